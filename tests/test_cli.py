"""The command line: exit codes, one-line errors, JSON, rule documentation."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from symcheck.cli import check, main, rules_command
from symcheck.rules import RULES

from .conftest import sample


def run(*args):
    return CliRunner().invoke(check, list(args))


def test_keras_sample_report_and_exit_code():
    result = run(sample("keras_cae.onnx"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ladder   28 → 14 → 7 → 4 ‖ 4 → 8 → 16 → 14 → 28" in out
    assert "bottleneck 4×4×8 = 128 values (6.1× compression)" in out
    assert "input 28×28×1 (NHWC) → output 28×28×1 · 4,385 params" in out
    assert "encoder 1,904 params" in out and "decoder 2,481 params" in out
    for code in ("SC101", "SC102", "SC103", "SC104", "SC201"):
        assert code in out
    assert out.rstrip().endswith("verdict  asymmetric: 4 warnings, 2 notes, no errors")
    assert result.stderr == ""


def test_fail_on_warning_gives_exit_1():
    assert run(sample("keras_cae.onnx"), "--fail-on", "warning").exit_code == 1
    assert run(sample("keras_cae.onnx"), "--fail-on", "warning", "--exit-zero").exit_code == 0
    assert run(sample("matlab_cae.onnx"), "--fail-on", "warning").exit_code == 0
    assert run(sample("matlab_cae.onnx"), "--fail-on", "info").exit_code == 1


def test_matlab_exit_codes():
    assert run(sample("matlab_cae.onnx")).exit_code == 0
    result = run(sample("matlab_cae_28.onnx"))
    assert result.exit_code == 1
    assert "SC002" in result.stdout


def test_directory_missing_and_non_onnx_give_exit_2(tmp_path):
    junk = tmp_path / "notes.onnx"
    junk.write_text("this is not a model\n")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    no_models = tmp_path / "no_models"  # a directory is searched (issue 5): one holding no model
    no_models.mkdir()
    cases = {
        str(no_models): "not-a-file",
        str(tmp_path / "missing.onnx"): "not-found",
        str(junk): "not-onnx",
        str(empty): "not-onnx",
    }
    for path, code in cases.items():
        result = run(path)
        assert result.exit_code == 2, (path, result.output)
        lines = result.stderr.strip().splitlines()
        assert lines == [lines[0]] and lines[0].startswith(f"symcheck: error[{code}]: {path}: ")
        assert "Traceback" not in result.output


def test_bad_file_does_not_stop_the_others(tmp_path):
    result = run(str(tmp_path / "missing.onnx"), sample("matlab_cae.onnx"))
    assert result.exit_code == 2
    assert "ladder   32 → 16 → 8 → 4" in result.stdout


def test_json_output_is_complete_and_versioned(tmp_path):
    out = tmp_path / "report.json"
    result = run(sample("keras_cae.onnx"), "--format", "json", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    doc = json.loads(out.read_text())
    assert doc["schema"] == "symcheck-report" and doc["schema_version"] == 1
    (a,) = doc["files"]
    assert a["ladder"] == {"encoder": ["28", "14", "7", "4"], "decoder": ["4", "8", "16", "14", "28"],
                           "text": "28 → 14 → 7 → 4 ‖ 4 → 8 → 16 → 14 → 28"}
    assert a["input"] == {"name": "input_img", "shape": ["N", 28, 28, 1], "layout": "NHWC"}
    assert a["bottleneck"]["shape"] == ["N", 4, 4, 8] and a["bottleneck"]["values"] == 128
    assert a["params"] == {"total": 4385, "encoder": 1904, "decoder": 2481}
    assert a["round_trip"]["statement"] == "H, W ≡ 4 (mod 8)"
    assert [p["decoder"] for p in a["pairs"]] == ["conv2d_6", "conv2d_5", "conv2d_4"]
    assert a["unpaired"] == ["conv2d_3"]
    assert sorted(f["code"] for f in a["findings"]) == ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]
    trim = next(layer for layer in a["layers"] if layer["name"] == "conv2d_5")
    assert trim["transfer"] == ["H - 2", "W - 2"] and trim["output_shape"] == ["N", 14, 14, 16]
    assert a["verdict"] == "asymmetric"


def test_json_errors_listed(tmp_path):
    result = run(str(tmp_path / "nope.onnx"), "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["files"] == [] and doc["errors"][0]["code"] == "not-found"


def test_select_and_ignore():
    result = run(sample("keras_cae.onnx"), "--ignore", "SC1", "--format", "json")
    found = sorted(f["code"] for f in json.loads(result.stdout)["files"][0]["findings"])
    assert found == ["SC201"]
    result = run(sample("keras_cae.onnx"), "--select", "SC10", "--ignore", "SC102,input-size-constraint",
                 "--format", "json")
    found = sorted(f["code"] for f in json.loads(result.stdout)["files"][0]["findings"])
    assert found == ["SC101", "SC103"]
    bad = run(sample("keras_cae.onnx"), "--select", "SC999")
    assert bad.exit_code == 2 and "unknown rule code" in bad.stderr


def test_input_shape_option():
    result = run(sample("torch_cae_dynamic.onnx"), "--input-shape", "input=1x1x32x32")
    assert "32 → 16 → 8 → 4 ‖ 4 → 8 → 16 → 14 → 28" in result.stdout
    assert result.exit_code == 1  # SC002: 32 does not round-trip
    assert run(sample("torch_cae_dynamic.onnx"), "--input-shape", "1x1x28x28").exit_code == 0
    bad = run(sample("torch_cae_dynamic.onnx"), "--input-shape", "nope=1x1x28x28")
    assert bad.exit_code == 2 and "bad-input-shape" in bad.stderr
    assert run(sample("torch_cae_dynamic.onnx"), "--input-shape", "input=axb").exit_code == 2


def test_rules_command():
    listing = CliRunner().invoke(rules_command, [])
    assert listing.exit_code == 0
    assert [line.split()[0] for line in listing.stdout.splitlines()] == list(RULES)
    one = CliRunner().invoke(rules_command, ["SC103"])
    assert one.stdout.startswith("SC103 size-fixup (warning)")
    assert "How to fix:" in one.stdout
    assert CliRunner().invoke(rules_command, ["size-fixup"]).stdout == one.stdout
    assert CliRunner().invoke(rules_command, ["SC999"]).exit_code == 2


def test_main_dispatches_rules(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["rules", "SC201"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("SC201 unpaired-layer (info)")


def test_python_dash_m(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "symcheck", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("symcheck, version ")


def test_console_entry_point_keeps_exit_codes_and_flushes_output():
    """``python -m symcheck`` goes through cli.run, which leaves with os._exit after
    flushing: the codes and the whole output must survive that."""
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "symcheck", *args], capture_output=True, text=True)

    clean = cli("--no-verify", "--format", "json", sample("keras_cae.onnx"), sample("torch_cae.onnx"))
    assert clean.returncode == 0
    assert [f["file"].rsplit("/", 1)[-1] for f in json.loads(clean.stdout)["files"]] == [
        "keras_cae.onnx", "torch_cae.onnx"]
    failing = cli("--no-verify", "--fail-on", "warning", sample("keras_cae.onnx"))
    assert failing.returncode == 1 and failing.stdout.rstrip().endswith("no errors")
    missing = cli("no-such-file.onnx")
    assert missing.returncode == 2
    assert missing.stderr == "symcheck: error[not-found]: no-such-file.onnx: no such file\n"
    usage = cli("--format", "yaml", sample("keras_cae.onnx"))
    assert usage.returncode == 2 and "Invalid value for '--format'" in usage.stderr
    # a reader that stops early is not an error, and never a traceback
    proc = subprocess.Popen([sys.executable, "-m", "symcheck", "--no-verify", "--format", "json",
                             sample("keras_cae.onnx")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    assert "Traceback" not in proc.stderr.read().decode()
    proc.wait(timeout=60)


def test_console_runs_without_the_cyclic_collector_but_collects_every_so_many_files(monkeypatch):
    """cli.run turns the collector off (an analysis leaves no cycles); check_file
    then collects once per COLLECT_EVERY files in each process, and never while
    the collector is on (a caller of main() keeps its own collector)."""
    import gc
    import subprocess
    import sys

    import symcheck.cli as cli

    probe = subprocess.run([sys.executable, "-c", "import gc, symcheck.cli as c\n"
                            "c.main = lambda: print(gc.isenabled())\nc.run()"],
                           capture_output=True, text=True)
    assert (probe.returncode, probe.stdout) == (0, "False\n")
    collected: list = []
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(cli._checked) or 0)
    monkeypatch.setattr(cli, "_checked", 0)
    task = cli.Task(sample("keras_cae.onnx"))
    gc.disable()
    try:
        for _ in range(2 * cli.COLLECT_EVERY + 1):
            assert cli.check_file(task).error is None
    finally:
        gc.enable()
    assert collected == [cli.COLLECT_EVERY, 2 * cli.COLLECT_EVERY]
    cli._checked = 3 * cli.COLLECT_EVERY - 1
    cli.check_file(task)  # a multiple, but the collector is on: it runs its own passes
    assert len(collected) == 2


def test_a_json_task_sends_back_the_brief_record_without_a_second_ladder(monkeypatch):
    """A worker's JSON outcome carries the brief record the summary and index read
    beside the whole dict's text: the ladder is worked out once for both."""
    import symcheck
    import symcheck.cli as cli
    from symcheck.analysis import Analysis

    path = sample("torch_cae_dynamic.onnx")
    expected = cli.brief_record(symcheck.analyze(path))
    calls: list = []
    real = Analysis._work_out_ladder
    monkeypatch.setattr(Analysis, "_work_out_ladder", lambda self: calls.append(1) or real(self))
    outcome = cli.check_file(cli.Task(path, full=True))
    assert outcome.record == expected
    assert len(calls) == 1
    assert json.loads(outcome.encoded)["ladder"]["text"] == expected["ladder"]["text"]


def test_layer_table_shapes_drop_the_batch_axis_only_where_there_is_one():
    """A rank-1 tensor (MaxUnpool's flattened indices, a flattened map) shows its dim;
    only rank 0 is ``scalar``."""
    import symcheck
    from symcheck.render.text import shape_text

    a = symcheck.analyze(sample("torch_cae.onnx"))
    assert shape_text(a, (1, 8, 7, 7)) == "8×7×7"
    assert shape_text(a, (1, 392)) == "392"
    assert shape_text(a, (1024,)) == "1024"
    assert shape_text(a, ()) == "scalar"
    assert shape_text(a, None) == "?"
