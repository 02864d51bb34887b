"""Measure symcheck and its baselines on the generated models; write docs/performance.md.

    python bench/make_models.py && python bench/run.py          # full run, ~10-15 min
    python bench/make_models.py --quick && python bench/run.py --quick   # smoke test, ~1 min

Every measurement runs in its own process, several times; the table shows
medians. Wall time comes from ``time.perf_counter`` around the process (or,
for in-process figures, around the call inside a worker process), peak RSS
from ``os.wait4``'s ``ru_maxrss`` for that process alone. The acceptance
ratios of issue 8 are computed from the numbers of the same run.
``docs/performance.md`` is written only by this script (``--quick`` writes
``bench/out/performance-quick.md`` instead unless ``--output`` says otherwise).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = os.path.join(HERE, "models")
OUT = os.path.join(HERE, "out")
DOC = os.path.join(ROOT, "docs", "performance.md")
PY = sys.executable


def console_script() -> str:
    """The ``symcheck`` command the whole-process rows run.

    The console script that pip put beside this interpreter, as a user of
    that environment runs it, so that symcheck and its baselines (run as
    ``sys.executable``) start the same interpreter. ``symcheck`` on PATH can
    be a version manager's shim (pyenv's, when the bench is started with the
    interpreter's full path, is a bash script that works out which Python to
    run, ~0.1 s a run on this machine): not symcheck's cost, so it only gets
    a start-up row of its own. Falls back to PATH when there is no script
    beside the interpreter.
    """
    beside = os.path.join(os.path.dirname(PY), "symcheck")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return shutil.which("symcheck") or "symcheck"


SYMCHECK = console_script()


def on_path() -> Optional[str]:
    """``symcheck`` on PATH when it is another file than :data:`SYMCHECK`."""
    found = shutil.which("symcheck")
    if found and os.path.realpath(found) != os.path.realpath(SYMCHECK):
        return found
    return None


#: A measurement whose first run takes longer than this many seconds gets 3 runs, not 5;
#: one longer than LONE gets a single run.
SLOW = 15.0
LONE = 120.0


# ---------------------------------------------------------------------------
# Workers: in-process timings, each in a fresh process started by the runner.
# A worker prints one JSON line {"times": [...], "info": {...}} on stdout.

def _strip_in_place(model, threshold: int = 4096) -> None:
    import math

    for init in model.graph.initializer:
        if math.prod(init.dims) > threshold:
            for name in ("raw_data", "float_data", "int32_data", "int64_data", "double_data"):
                init.ClearField(name)
            del init.external_data[:]


def _warm_symcheck() -> None:
    import symcheck

    small = os.path.join(MODELS, "unet_100.onnx")
    if os.path.exists(small):
        symcheck.analyze(small)


def _timed(runs: int, body) -> dict:
    """Wall time of ``runs`` calls of ``body()``: the shape every in-process measurement has."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        body()
        times.append(time.perf_counter() - t0)
    return {"times": times}


def work_symcheck(path: str, runs: int) -> dict:
    """``symcheck.analyze(path)`` (load, shapes, layers, structure, rules), warm process."""
    import symcheck

    _warm_symcheck()
    return _timed(runs, lambda: symcheck.analyze(path))


def work_onnx(path: str, runs: int) -> dict:
    """onnx.load(graph only) + strip initializers in place + onnx.shape_inference.infer_shapes."""
    import onnx

    times, load, infer = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        model = onnx.load(path, load_external_data=False)
        t1 = time.perf_counter()
        _strip_in_place(model)
        onnx.shape_inference.infer_shapes(model)
        t2 = time.perf_counter()
        times.append(t2 - t0)
        load.append(t1 - t0)
        infer.append(t2 - t1)
    return {"times": times, "info": {"load": load, "infer": infer}}


def work_networkx(path: str, runs: int) -> dict:
    """networkx DiGraph of the ONNX nodes (tensor edges) + topological sort, after onnx.load."""
    import networkx as nx
    import onnx

    model = onnx.load(path, load_external_data=False)

    def body() -> None:
        graph = nx.DiGraph()
        producer = {}
        for i, node in enumerate(model.graph.node):
            graph.add_node(i)
            for out in node.output:
                producer[out] = i
        for i, node in enumerate(model.graph.node):
            for name in node.input:
                if name in producer:
                    graph.add_edge(producer[name], i)
        list(nx.topological_sort(graph))

    return _timed(runs, body)


def work_onnx_tool(path: str, runs: int) -> dict:
    """onnx-tool: load, reorder, shape_infer, profile (what ``model_profile`` does, no printing)."""
    import onnx_tool

    def body() -> None:
        graph = onnx_tool.Model(path, {"verbose": False}).graph
        graph.graph_reorder_nodes()
        graph.shape_infer(None)
        graph.profile(exclude_ops=set(onnx_tool.NoMacsOps))

    return _timed(runs, body)


def work_ort_symbolic(path: str, runs: int) -> dict:
    """onnx.load + onnxruntime.tools.symbolic_shape_infer.SymbolicShapeInference.infer_shapes."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    return _timed(runs, lambda: SymbolicShapeInference.infer_shapes(onnx.load(path), auto_merge=True))


def work_ort_run(path: str, runs: int, dims: str = "") -> dict:
    """A plain onnxruntime InferenceSession (default options) + one run on random input."""
    import numpy as np
    import onnxruntime as ort

    shape = tuple(int(d) for d in dims.split("x")) if dims else None

    def body() -> None:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        x = np.random.default_rng(0).random(shape or tuple(inp.shape), dtype=np.float32)
        session.run(None, {inp.name: x})

    return _timed(runs, body)


def work_symcheck_folder(folder: str, runs: int) -> dict:
    """``symcheck.analyze`` on every .onnx file of a folder, one warm process; per-file sum."""
    import symcheck

    _warm_symcheck()
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".onnx"))
    totals, failures = [], 0
    for _ in range(runs):
        total = 0.0
        for path in files:
            t0 = time.perf_counter()
            try:
                symcheck.analyze(path)
            except Exception:  # noqa: BLE001 - counted, the timing still stands
                failures += 1
            total += time.perf_counter() - t0
        totals.append(total)
    return {"times": totals, "info": {"files": len(files), "failures": failures // max(runs, 1)}}


WORKERS = {"symcheck": work_symcheck, "onnx": work_onnx, "networkx": work_networkx,
           "onnx_tool": work_onnx_tool, "ort_symbolic": work_ort_symbolic,
           "ort_run": work_ort_run, "symcheck_folder": work_symcheck_folder}


def worker_main(argv: list) -> int:
    name, path, runs, *rest = argv
    result = WORKERS[name](path, int(runs), *rest)
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------
# The runner.

@dataclass
class Result:
    key: str  # e.g. "whole/symcheck"
    model: str
    label: str
    times: list = field(default_factory=list)
    rss_kb: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    error: str = ""
    note: str = ""

    @property
    def median(self) -> Optional[float]:
        return statistics.median(self.times) if self.times else None

    @property
    def rss_mb(self) -> Optional[float]:
        return statistics.median(self.rss_kb) / 1024 if self.rss_kb else None


def spawn(cmd: list, capture: bool = False) -> tuple:
    """Run ``cmd``; return (seconds, peak RSS kB, exit code, stdout, stderr tail).

    The child is reaped with ``os.wait4`` so the RSS is this child's own peak
    (``RUSAGE_CHILDREN`` would be the maximum over every child so far). Output
    goes to temporary files, so a chatty child cannot block on a full pipe.
    """
    with tempfile.TemporaryFile() as err, (tempfile.TemporaryFile() if capture
                                           else open(os.devnull, "wb")) as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")[-600:]
        stdout = ""
        if capture:
            out.seek(0)
            stdout = out.read().decode(errors="replace")
    return seconds, usage.ru_maxrss, code, stdout, stderr


def _spawn_into(res: "Result", cmd: list, ok) -> bool:
    """One whole-process run of ``cmd`` added to ``res``; False (and ``res.error``) when it
    exits with a code outside ``ok``."""
    seconds, rss, code, _, err = spawn(cmd)
    if code not in ok:
        res.error = f"exit {code}: {err.strip().splitlines()[-1] if err.strip() else ''}"
        return False
    res.times.append(seconds)
    res.rss_kb.append(rss)
    return True


class Runner:
    def __init__(self, runs: int, quick: bool, log) -> None:
        self.runs = runs
        self.quick = quick
        self.log = log
        self.results: dict = {}

    def _count(self, first: float) -> int:
        if first > LONE:
            return 1
        if first > SLOW:
            return min(self.runs, 3)
        return self.runs

    def whole(self, key: str, model: str, label: str, cmd: list, ok=(0, 1),
              runs: Optional[int] = None) -> Result:
        """Whole-process wall time and peak RSS of ``cmd``, medians over runs."""
        res = Result(key, model, label)
        target = runs or self.runs
        while len(res.times) < target and _spawn_into(res, cmd, ok):
            if len(res.times) == 1 and runs is None:
                target = self._count(res.times[0])
        self._done(res)
        return res

    def paired(self, key_a: str, key_b: str, model: str, label_a: str, label_b: str,
               cmd_a: list, cmd_b: list, ok=(0, 1)) -> None:
        """Two commands run alternately (a, b, a, b, ...), so drift in machine load hits both."""
        res_a, res_b = Result(key_a, model, label_a), Result(key_b, model, label_b)
        target = self.runs
        while len(res_b.times) < target and not (res_a.error or res_b.error):
            if _spawn_into(res_a, cmd_a, ok):
                _spawn_into(res_b, cmd_b, ok)
            if len(res_b.times) == 1:
                target = self._count(res_a.times[0] + res_b.times[0])
        self._done(res_a)
        self._done(res_b)

    def inproc(self, key: str, model: str, label: str, worker: str, path: str,
               *extra: str, runs: Optional[int] = None) -> Result:
        """In-process timing by a worker process; RSS is that worker's peak."""
        res = Result(key, model, label)
        first = self._worker(res, worker, path, 1, extra)
        if first is not None:
            more = (runs or self._count(first)) - 1
            if more > 0:
                self._worker(res, worker, path, more, extra)
        self._done(res)
        return res

    def inproc_paired(self, a: tuple, b: tuple) -> None:
        """Two in-process measurements taken alternately, one run per worker each time
        (a, b, a, b, ...), so drift in machine load hits both sides of a ratio.
        ``a`` and ``b`` are (key, model, label, worker, path)."""
        res_a, res_b = Result(*a[:3]), Result(*b[:3])
        target = self.runs
        while len(res_b.times) < target and not (res_a.error or res_b.error):
            if self._worker(res_a, a[3], a[4], 1, ()) is not None:
                self._worker(res_b, b[3], b[4], 1, ())
            if len(res_b.times) == 1:
                target = self._count(res_a.times[0] + res_b.times[0])
        self._done(res_a)
        self._done(res_b)

    def _worker(self, res: Result, worker: str, path: str, runs: int, extra) -> Optional[float]:
        cmd = [PY, os.path.abspath(__file__), "--worker", worker, path, str(runs), *extra]
        _, rss, code, out, err = spawn(cmd, capture=True)
        if code != 0:
            res.error = f"exit {code}: {err.strip().splitlines()[-1] if err.strip() else ''}"
            return None
        data = json.loads(out.strip().splitlines()[-1])
        res.times.extend(data["times"])
        res.rss_kb.append(rss)
        for k, v in data.get("info", {}).items():  # lists are per run; others per worker
            res.info.setdefault(k, []).extend(v if isinstance(v, list) else [v])
        return data["times"][0]

    def skip(self, key: str, model: str, label: str, note: str) -> Result:
        res = Result(key, model, label, note=note)
        self._done(res)
        return res

    def _done(self, res: Result) -> None:
        self.results[(res.key, res.model)] = res
        if res.error:
            text = f"ERROR {res.error}"
        elif res.times:
            text = f"{fmt_s(res.median)} (n={len(res.times)})" + (
                f", {res.rss_mb:.0f} MB" if res.rss_mb else "")
        else:
            text = res.note
        self.log(f"  {res.model:<14} {res.label:<58} {text}")

    def get(self, key: str, model: str) -> Optional[Result]:
        res = self.results.get((key, model))
        return res if res is not None and res.times else None


def fmt_s(seconds: Optional[float]) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


# ---------------------------------------------------------------------------

def features() -> dict:
    """What the installed symcheck offers (verification, directory mode), from --help."""
    help_text = subprocess.run([SYMCHECK, "--help"], capture_output=True, text=True,
                               cwd=ROOT).stdout
    return {"no_verify": "--no-verify" in help_text,
            "verify_flag": "--verify" in help_text.replace("--no-verify", ""),
            "jobs": " -j" in help_text or "--jobs" in help_text,
            "verify_timeout": "--verify-timeout" in help_text,
            "help": help_text}


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kb = int(handle.readline().split()[1])
            mem = f"{kb / 1024 ** 2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    # Versions come from a child process: importing onnxruntime here would raise this
    # process's RSS, and a child's ru_maxrss starts from its parent's at fork/exec.
    probe = (
        "import json\nout = {}\n"
        "for mod in ('symcheck', 'onnx', 'onnxruntime', 'numpy', 'networkx', 'onnx_tool',"
        " 'google.protobuf'):\n"
        "    try:\n"
        "        m = __import__(mod, fromlist=['_'])\n"
        "        out[mod.split('.')[-1]] = getattr(m, '__version__', None) or getattr(m, 'VERSION', '?')\n"
        "    except Exception:\n"
        "        out[mod.split('.')[-1]] = 'not installed'\n"
        "print(json.dumps(out))\n")
    try:
        versions = json.loads(subprocess.run([PY, "-c", probe], capture_output=True, text=True,
                                             cwd=ROOT).stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        versions = {}

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True,
                                  cwd=ROOT).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "symcheck")
    return {"load": os.getloadavg(), "cpu": cpu or platform.processor(), "cores": os.cpu_count(), "memory": mem,
            "platform": platform.platform(), "python": platform.python_version(),
            "versions": versions, "commit": commit + (" + uncommitted changes in symcheck/" if dirty else "")}


def fingerprint() -> str:
    """A hash of symcheck's sources: it changes if someone edits symcheck during a run."""
    import hashlib

    digest = hashlib.sha256()
    package = os.path.join(ROOT, "symcheck")
    for folder, _, names in sorted(os.walk(package)):
        for name in sorted(names):
            if name.endswith((".py", ".html", ".j2")):
                with open(os.path.join(folder, name), "rb") as handle:
                    digest.update(name.encode() + handle.read())
    return digest.hexdigest()[:12]


def compile_bytecode() -> str:
    """Compile the imported symcheck's sources to ``__pycache__``, as ``pip install`` does.

    An editable install under ``PYTHONDONTWRITEBYTECODE=1`` (set on some
    machines) recompiles every module in every process, ~0.13 s of start-up
    that no installed copy pays; onnx, numpy and networkx are measured with
    their compiled bytecode, so symcheck is too. Returns what was done, for
    the report.
    """
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("symcheck")
    if spec is None or not spec.submodule_search_locations:
        return "symcheck not found"
    package = list(spec.submodule_search_locations)[0]
    ok = compileall.compile_dir(package, quiet=1)
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return (f"symcheck's bytecode compiled before measuring ({'ok' if ok else 'with errors'}; "
            f"PYTHONDONTWRITEBYTECODE={flag or 'unset'})")


def load_manifest() -> dict:
    path = os.path.join(MODELS, "manifest.json")
    if not os.path.exists(path):
        sys.exit("bench/models/manifest.json is missing: run `python bench/make_models.py` first")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def measure(runner: Runner, manifest: dict, feat: dict, quick: bool, log) -> dict:
    def model_path(name: str) -> str:
        return os.path.join(MODELS, manifest[name]["file"])

    unets = ["unet_100", "unet_1k"] if quick else ["unet_100", "unet_1k", "unet_10k", "unet_30k"]
    mid = "unet_1k" if quick else "unet_10k"  # the model of the 10k targets
    big = [] if quick else ["big_inline", "big_external", "big_stripped"]
    # not acceptance models: a symbolic input; every tensor declared and every node annotated
    others = ["dynamic_1k"] if quick else ["dynamic_1k", "declared_10k"]
    for name in unets + others + big:
        if name not in manifest:
            sys.exit(f"{name} is not in the manifest: run `python bench/make_models.py`")
    flag = ["--no-verify"] if feat["no_verify"] else []
    sym_label = "symcheck " + ("--no-verify " if flag else "") + "--format json FILE"

    log("process start-up")
    runner.whole("startup/symcheck", "—", "symcheck --version (start-up)", [SYMCHECK, "--version"])
    path_script = on_path()
    if path_script:  # what a different `symcheck` on PATH (a shim) adds, for comparison
        runner.whole("startup/path", "—", f"symcheck --version through PATH ({path_script})",
                     ["symcheck", "--version"])
    runner.whole("startup/onnx", "—", 'python -c "import onnx"', [PY, "-c", "import onnx"])

    log("whole process: symcheck vs onnx.load + onnx.shape_inference")
    baseline = [PY, os.path.abspath(__file__), "--worker", "onnx"]
    for name in unets + others + big:
        path = model_path(name)
        runner.paired("whole/symcheck", "whole/onnx", name, sym_label,
                      "python: onnx.load + strip + infer_shapes",
                      [SYMCHECK, *flag, "--format", "json", path], [*baseline, path, "1"])

    log("in process (no start-up)")
    top = unets[-1]
    sym = ("inproc/symcheck", "symcheck.analyze(FILE)", "symcheck")
    for name in unets + others + big:
        path = model_path(name)
        if name not in ("unet_1k", mid, top):  # those three are measured in pairs below
            runner.inproc(sym[0], name, sym[1], sym[2], path)
        runner.inproc("inproc/onnx", name, "onnx.load + strip + infer_shapes", "onnx", path)
    # The ratios of the acceptance table, each side measured alternately with the other.
    if top == "unet_1k":  # --quick: no larger U-Net to pair it with
        runner.inproc(sym[0], top, sym[1], sym[2], model_path(top))
    else:
        log("in process, alternately: the scaling pair (unet_1k with the largest U-Net)")
        runner.inproc_paired((sym[0], "unet_1k", sym[1] + " (paired with the next row)", sym[2],
                              model_path("unet_1k")),
                             (sym[0], top, sym[1] + " (paired with the row above)", sym[2],
                              model_path(top)))
    if mid not in ("unet_1k", top):
        log(f"in process, alternately: symcheck and ORT symbolic_shape_infer on {mid}")
        runner.inproc_paired((sym[0], mid, sym[1] + " (paired with ORT symbolic)", sym[2], model_path(mid)),
                             ("inproc/ort_symbolic", mid, "ORT symbolic_shape_infer (incl. onnx.load)",
                              "ort_symbolic", model_path(mid)))
    for name in unets:
        runner.inproc("inproc/networkx", name, "networkx DiGraph + topological_sort", "networkx",
                      model_path(name))

    log("other tools (in process)")
    tool_models = ["unet_100", "unet_1k"] if quick else ["unet_1k", "unet_10k"]
    for name in tool_models:
        runner.inproc("inproc/onnx_tool", name, "onnx-tool shape_infer + profile", "onnx_tool",
                      model_path(name))
    if not quick:
        runner.skip("inproc/onnx_tool", "unet_30k", "onnx-tool shape_infer + profile",
                    "not run (about a minute per run; not an acceptance figure)")
    for name in (["unet_1k"] if quick else ["unet_1k", "unet_10k", "unet_30k"]):
        if (("inproc/ort_symbolic", name)) not in runner.results:  # the 10k one is paired above
            runner.inproc("inproc/ort_symbolic", name, "ORT symbolic_shape_infer (incl. onnx.load)",
                          "ort_symbolic", model_path(name))
    for name in (["unet_1k"] if quick else ["unet_1k", "unet_10k"]):
        runner.inproc("inproc/ort_run", name, "ORT InferenceSession + 1 run (1×3×64×64)",
                      "ort_run", model_path(name))
        runner.whole("whole/ort_run", name, "python: ORT session + 1 run (whole process)",
                     [PY, os.path.abspath(__file__), "--worker", "ort_run", model_path(name), "1"])

    log("verification")
    if feat["no_verify"] or feat["verify_flag"]:
        vflag = ["--verify"] if feat["verify_flag"] and not feat["no_verify"] else []
        if feat["verify_timeout"]:  # measure the whole verification, not its default cut-off
            vflag += ["--verify-timeout", "3600"]
        for name in (["unet_1k"] if quick else ["unet_1k", "unet_10k"]):
            runner.paired("whole/symcheck_noverify_paired", "whole/symcheck_verify", name,
                          "symcheck --no-verify (paired with the next row)",
                          "symcheck " + " ".join(vflag + ["--format", "json"]) + " FILE (verifies)",
                          [SYMCHECK, *flag, "--format", "json", model_path(name)],
                          [SYMCHECK, *vflag, "--format", "json", model_path(name)])
    else:
        runner.skip("whole/symcheck_verify", mid, "symcheck with verification",
                    "not yet available (no --verify/--no-verify in `symcheck --help`)")

    log("folder of 200 autoencoders")
    folder = model_path("ae200").rstrip("/")
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".onnx"))
    runner.inproc("inproc/folder", "ae200", "symcheck.analyze per file, one process (sum)",
                  "symcheck_folder", folder, runs=3)
    runner.whole("whole/many_paths", "ae200", "symcheck --format json ae_*.onnx (200 paths)",
                 [SYMCHECK, *flag, "--format", "json", *files], runs=3)
    if feat["jobs"]:
        runner.paired("whole/dir_j1", "whole/dir_j2", "ae200", "symcheck --format json -j 1 ae200/",
                      "symcheck --format json -j 2 ae200/",
                      [SYMCHECK, *flag, "--format", "json", "-j", "1", folder],
                      [SYMCHECK, *flag, "--format", "json", "-j", "2", folder])
    else:
        for jobs in ("1", "2"):
            runner.skip(f"whole/dir_j{jobs}", "ae200", f"symcheck -j {jobs} ae200/",
                        "not yet available (no -j in `symcheck --help`)")
    log("the machine's own -j 2 ceiling: the same CPU work in one process and split over two")
    runner.paired("machine/one", "machine/two", "—", f"one process: a {2 * SPIN:,}-step Python loop",
                  f"two processes at once: {SPIN:,} steps each", _spinners(1, 2 * SPIN),
                  _spinners(2, SPIN))
    return {"unets": unets, "mid": mid, "big": big, "others": others}


#: Steps of the CPU-bound loop each of the two processes runs (~0.4 s on this machine).
SPIN = 4_000_000


def _spinners(count: int, steps: int) -> list:
    """A process that starts ``count`` Python processes at once, each running a
    ``steps``-step loop, and waits for them (start-up included, as symcheck's is)."""
    loop = f"x = 0\nfor i in range({steps}): x += i"
    return [PY, "-c", "import subprocess, sys\n"
            f"procs = [subprocess.Popen([sys.executable, '-c', {loop!r}]) for _ in range({count})]\n"
            "for proc in procs: proc.wait()"]


# ---------------------------------------------------------------------------
# Acceptance ratios (issue 8), from this run's numbers.

@dataclass
class Check:
    target: str
    measured: str
    status: str  # PASS, FAIL, n/a


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b else None


def acceptance(r: Runner, manifest: dict, scope: dict, quick: bool) -> list:
    checks = []

    def med(key, model):
        res = r.get(key, model)
        return res.median if res else None

    def rss(key, model):
        res = r.get(key, model)
        return res.rss_mb if res else None

    def verdict(value, ok) -> str:
        return "n/a" if value is None else ("PASS" if ok(value) else "FAIL")

    for name in [u for u in scope["unets"] if u != "unet_100"]:
        q = ratio(med("whole/symcheck", name), med("whole/onnx", name))
        checks.append(Check(
            f"whole process, {name}: symcheck / (onnx.load + infer_shapes) ≤ 1.5",
            "—" if q is None else f"{q:.2f}× ({fmt_s(med('whole/symcheck', name))} / "
                                  f"{fmt_s(med('whole/onnx', name))})",
            verdict(q, lambda v: v <= 1.5)))

    top = scope["unets"][-1]
    t_top, t_1k = med("inproc/symcheck", top), med("inproc/symcheck", "unet_1k")
    nodes = manifest[top]["nodes"] / manifest["unet_1k"]["nodes"]
    q = ratio(t_top, t_1k)
    s_top = med("whole/symcheck", top)
    s_1k = med("whole/symcheck", "unet_1k")
    start = med("startup/symcheck", "—")
    alt = ""
    if s_top and s_1k and start and s_1k - start >= s_1k / 4:
        alt = f"; whole process minus start-up: {(s_top - start) / (s_1k - start) / nodes:.2f}"
    elif s_1k and start:  # the difference of two noisy, nearly equal times says nothing
        alt = (f"; whole process minus start-up: not shown (start-up {fmt_s(start)} is most of "
               f"the unet_1k run's {fmt_s(s_1k)})")
    checks.append(Check(
        f"scaling: time({top}) / time(unet_1k), in process, ≤ 1.2 × node ratio ({nodes:.1f})",
        "—" if q is None else f"{q:.1f}× time for {nodes:.1f}× nodes = {q / nodes:.2f} of linear{alt}",
        verdict(q, lambda v: v / nodes <= 1.2)))

    mid = scope["mid"]
    sym_mid = med("inproc/symcheck", mid)
    q = ratio(med("inproc/onnx_tool", mid), sym_mid)
    checks.append(Check(f"{mid}: onnx-tool / symcheck ≥ 10 (in process)",
                        "—" if q is None else f"{q:.2f}×", verdict(q, lambda v: v >= 10)))
    q = ratio(med("inproc/ort_symbolic", mid), sym_mid)
    checks.append(Check(f"{mid}: ORT symbolic_shape_infer / symcheck ≥ 3 (in process)",
                        "—" if q is None else f"{q:.2f}×", verdict(q, lambda v: v >= 3)))

    if scope["big"]:
        size_mb = manifest["big_inline"]["file_bytes"] / 1024 ** 2
        m = rss("whole/symcheck", "big_external")
        checks.append(Check("big_external: peak RSS of symcheck < 150 MB",
                            "—" if m is None else f"{m:.0f} MB", verdict(m, lambda v: v < 150)))
        m = rss("whole/symcheck", "big_inline")
        q = ratio(m, size_mb)
        checks.append(Check(f"big_inline: peak RSS of symcheck < 1.3 × file size ({size_mb:.0f} MB)",
                            "—" if q is None else f"{m:.0f} MB = {q:.2f}× the file",
                            verdict(q, lambda v: v < 1.3)))
        for name in ("big_inline", "big_external"):
            q = ratio(med("whole/symcheck", name), med("whole/symcheck", "big_stripped"))
            checks.append(Check(
                f"{name}: symcheck time ≤ 1.5 × the same graph without weights (big_stripped)",
                "—" if q is None else f"{q:.2f}× ({fmt_s(med('whole/symcheck', name))} / "
                                      f"{fmt_s(med('whole/symcheck', 'big_stripped'))})",
                verdict(q, lambda v: v <= 1.5)))

    verify = r.get("whole/symcheck_verify", mid)
    if verify:
        extra = verify.median - (med("whole/symcheck_noverify_paired", mid) or verify.median)
        q = ratio(extra, med("inproc/ort_run", mid))
        if q is not None and q <= 0:
            q = None  # noise: verification cannot cost less than nothing
        checks.append(Check(
            f"{mid}: verification (symcheck − symcheck --no-verify, run alternately) "
            "≤ 1.3 × ORT session + 1 run (in process)",
            f"not measurable ({fmt_s(extra)} extra)" if q is None else
            f"{q:.2f}× ({fmt_s(extra)} / {fmt_s(med('inproc/ort_run', mid))})",
            verdict(q, lambda v: v <= 1.3)))
        q = ratio(verify.rss_mb, rss("whole/ort_run", mid))
        checks.append(Check(f"{mid}: peak RSS with verification ≤ 1.5 × plain ORT process",
                            "—" if q is None else f"{q:.2f}×", verdict(q, lambda v: v <= 1.5)))
    else:
        checks.append(Check(f"{mid}: verification ≤ 1.3 × ORT session + 1 run; RSS ≤ 1.5×",
                            "verification not yet available", "n/a"))

    j1, j2 = med("whole/dir_j1", "ae200"), med("whole/dir_j2", "ae200")
    q = ratio(j1, j2)
    ceiling = ratio(med("machine/one", "—"), med("machine/two", "—"))
    context = "" if ceiling is None else (
        f" (in this run the machine itself did the same CPU work {ceiling:.2f}× as fast in two "
        "processes as in one)")
    checks.append(Check("ae200: -j 2 ≥ 1.6 × faster than -j 1",
                        "directory mode not yet available" if q is None else f"{q:.2f}×{context}",
                        verdict(q, lambda v: v >= 1.6)))
    per_file = med("inproc/folder", "ae200")
    q = ratio(j2, per_file)
    checks.append(Check(
        "ae200: total (-j 2) ≤ 3 × sum of per-file analysis in one process",
        "directory mode not yet available" if q is None else f"{q:.2f}× ({fmt_s(j2)} / {fmt_s(per_file)})",
        verdict(q, lambda v: v <= 3)))
    return checks


# ---------------------------------------------------------------------------

def render(r: Runner, manifest: dict, feat: dict, info: dict, checks: list, scope: dict,
           quick: bool, elapsed: float) -> str:
    lines = [
        "# Performance",
        "",
        "<!-- Generated by bench/run.py; do not edit by hand. -->",
        "",
        f"Written by `python bench/run.py{' --quick' if quick else ''}` on "
        f"{_dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')} in {elapsed / 60:.1f} min. "
        "How to regenerate and what each number means: [bench/README.md](../bench/README.md).",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores; memory {info['memory']}",
        f"- {info['platform']}, Python {info['python']}",
        "- " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"- symcheck commit {info['commit']}; sources hash {info['fingerprint']} at start, "
        + (f"{fingerprint()} at end" if fingerprint() == info["fingerprint"] else
           f"**{fingerprint()} at end: symcheck was edited during this run, so rows measured "
           "before and after the edit are of different code**"),
        f"- {info['bytecode']}",
        f"- symcheck run as `{SYMCHECK}`, the console script beside the interpreter that runs the "
        "baselines" + (f"; `symcheck` on PATH is `{on_path()}`, another file (a version manager's "
                       "shim?), whose start-up has a row of its own" if on_path() else ""),
        "- load average (1 min) at start {:.2f}, at end {:.2f}: the machine is shared, and other "
        "work running at the same time inflates wall times".format(info["load"][0], os.getloadavg()[0]),
        f"- symcheck features found in `symcheck --help`: --no-verify "
        f"{'yes' if feat['no_verify'] else 'no'}, verification "
        f"{'yes' if feat['no_verify'] or feat['verify_flag'] else 'no'}, -j (directory mode) "
        f"{'yes' if feat['jobs'] else 'no'}",
        "",
        "## Acceptance (issue 8), from this run",
        "",
        "| target | measured | status |",
        "|---|---|---|",
    ]
    lines += [f"| {c.target} | {c.measured} | **{c.status}** |" for c in checks]
    lines += ["", "## Models", "", "| model | nodes | file | weights | onnxruntime check |",
              "|---|---:|---:|---:|---|"]
    for name in scope["unets"] + scope["others"] + scope["big"] + ["ae200"]:
        m = manifest[name]
        size = m["file_bytes"] + m.get("data_bytes", 0)
        ort = m.get("ort", {})
        ran = ("ran " + "×".join(map(str, ort["run_input"]))) if ort.get("run_input") else (
            "all 200 ran" if ort.get("ok") else ort.get("note", "failed" if ort.get("failures") else "—"))
        extra = f" ({m['count']} files)" if "count" in m else ""
        data = " (+ .onnx.data)" if "data_bytes" in m else ""
        lines.append(f"| {name}{extra} | {m['nodes']:,} | {size / 1e6:,.1f} MB{data} | "
                     f"{m.get('initializer_bytes', 0) / 1e6:,.1f} MB | {ran} |")
    lines += ["", "## Raw medians", "",
              "Whole process = a fresh process per run, wall time from start to exit. "
              "In process = the call alone, timed inside a worker process (symcheck warmed up on "
              "unet_100 first). RSS = peak resident set of the process (for in-process rows, of "
              "the worker, all its runs). n = runs (5, or 3 when a run takes over "
              f"{SLOW:.0f} s, 1 over {LONE:.0f} s).", "",
              "| measurement | model | median | n | peak RSS | notes |", "|---|---|---:|---:|---:|---|"]
    for res in r.results.values():
        if res.error:
            cells = ("error", "", "", res.error.replace("|", "\\|"))
        elif res.times:
            notes = []
            for k, v in res.info.items():
                if isinstance(v[0], float):
                    notes.append(f"{k} {fmt_s(statistics.median(v))} (median)")
                else:
                    notes.append(f"{k} {v[0]}")
            cells = (fmt_s(res.median), str(len(res.times)),
                     f"{res.rss_mb:,.0f} MB" if res.rss_mb else "", ", ".join(notes))
        else:
            cells = ("—", "", "", res.note)
        lines.append(f"| {res.label} | {res.model} | {' | '.join(cells)} |")
    lines += ["", "Notes:", "",
              "- The onnx baseline loads with `load_external_data=False`, clears the bytes of "
              "every initializer over 4,096 elements in place (dims kept) and runs "
              "`onnx.shape_inference.infer_shapes` (default options) on it.",
              "- ORT symbolic_shape_infer is timed with its `onnx.load` (weights included), "
              "`auto_merge=True`; onnx-tool is `Model` + `graph_reorder_nodes` + `shape_infer` + "
              "`profile`, as `onnx_tool.model_profile` without printing.",
              "- big_stripped is big_inline with the bytes of every initializer over 4,096 "
              "elements removed: the same graph without weights.",
              ]
    if not feat["no_verify"]:
        lines.append("- `symcheck --no-verify` does not exist yet: whole-process rows run "
                     "`symcheck --format json FILE`, which today is static analysis only.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--worker":
        return worker_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small models only, 2 runs each (a smoke test, about a minute)")
    parser.add_argument("--runs", type=int, default=None, help="runs per measurement (default 5; 2 with --quick)")
    parser.add_argument("-o", "--output", help="where to write the markdown "
                        "(default docs/performance.md; bench/out/performance-quick.md with --quick)")
    args = parser.parse_args(argv)
    manifest = load_manifest()
    output = args.output or (os.path.join(OUT, "performance-quick.md") if args.quick else DOC)
    start = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f} s] {text}", flush=True)

    feat = features()
    info = machine()
    info["fingerprint"] = fingerprint()
    info["bytecode"] = compile_bytecode()
    runner = Runner(args.runs or (2 if args.quick else 5), args.quick, log)
    scope = measure(runner, manifest, feat, args.quick, log)
    checks = acceptance(runner, manifest, scope, args.quick)
    elapsed = time.perf_counter() - start
    text = render(runner, manifest, feat, info, checks, scope, args.quick, elapsed)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "last-run.json"), "w", encoding="utf-8") as handle:
        json.dump({f"{k}|{m}": {"times": res.times, "rss_kb": res.rss_kb, "error": res.error,
                                "note": res.note, "info": res.info}
                   for (k, m), res in runner.results.items()}, handle, indent=1)
    log(f"wrote {os.path.relpath(output, ROOT)}")
    for c in checks:
        log(f"{c.status:<4} {c.target}: {c.measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
