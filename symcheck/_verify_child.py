"""The child process of verification: load a model in onnxruntime, run it, report shapes.

Run by path (``python .../_verify_child.py``), never imported by symcheck, so
that it starts with only numpy and onnxruntime to import. The protocol, on
the child's standard streams:

* stdin: one line of JSON (the *request*), then the serialized model bytes
  until end of file. The request holds ``outputs`` (tensor names to fetch),
  ``runs`` (each a mapping of input name to ``{"shape": [...], "dtype":
  "float32"}``), ``seed``, ``threads``, ``memory_budget`` and ``external``:
  weights the parent validated and opened, each ``{"name", "fd", "offset",
  "length", "dtype", "dims"}``; the descriptor is inherited, mapped read-only
  and the weight handed to onnxruntime with ``add_external_initializers``.
* stdout: one JSON document, ``{"onnxruntime": VERSION, "error": null or
  "load: ...", "runs": [{"shapes": {name: [dims] or null}, "error": null or
  "..."}]}``. Anything native code prints to stdout goes to stderr instead.

Inputs are seeded random normals for float types and zeros for integer and
boolean types. Each run's arrays are dropped before the next run starts.

Memory: once numpy and onnxruntime are imported, the address space is capped
(``RLIMIT_AS``) at what the process maps then plus ``memory_budget`` bytes,
before the model is read. An allocation past the cap fails inside
onnxruntime (``std::bad_alloc``; "Failed to allocate memory for requested
buffer of size N" when its arena is on), which is reported as that run's
error; the process is not killed. Measured
with onnxruntime 1.32: the imports map ~190 MB, a session ~25 MB more.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Sequence


_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_SOURCE = re.compile(r"\S+\.(?:h|hpp|cc|cpp):\d+ [\w:~<>]+\([^)]*\)(?: const)? ")


def _first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line: no ``[ONNXRuntimeError] : 1 : FAIL :`` prefix,
    no C++ source locations, the first line only, at most ``limit`` characters."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[0].split()) if lines else type(exc).__name__
    text = _SOURCE.sub("", _ORT_PREFIX.sub("", text))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _feed(spec: dict, rng, np):
    """A seeded random array for float inputs, zeros for integer and boolean inputs."""
    dtype = np.dtype(spec["dtype"])
    shape = tuple(spec["shape"])
    if dtype.kind == "f":
        return rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    return np.zeros(shape, dtype=dtype)


def _external(entries: list, ort, np) -> tuple:
    """(names, OrtValues) of the external weights, read from the inherited descriptors."""
    import mmap

    maps: dict = {}
    names, values = [], []
    for entry in entries:
        fd = int(entry["fd"])
        if fd not in maps:
            maps[fd] = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        dtype = np.dtype(entry["dtype"])
        array = np.frombuffer(maps[fd], dtype=dtype, count=int(entry["length"]) // dtype.itemsize,
                              offset=int(entry["offset"])).reshape(entry["dims"])
        names.append(entry["name"])
        values.append(ort.OrtValue.ortvalue_from_numpy(array))
    return names, values


def _session(model: bytes, threads: int, external: Sequence = ()):
    """A CPU session with graph optimisation off, no memory arena and a fixed thread count."""
    import numpy as np
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # one or two runs: the arena's pooling buys nothing, and it keeps its high-water
    # mark (peak RSS on a 10k-node U-Net 281 -> 273 MB, no measurable time cost)
    options.enable_cpu_mem_arena = False
    if external:
        names, values = _external(list(external), ort, np)
        options.add_external_initializers(names, values)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _shape(value):
    shape = getattr(value, "shape", None)
    return None if shape is None else [int(d) for d in shape]


def serve(request: dict, model: bytes) -> dict:
    """Load ``model``, run it once per entry of ``request["runs"]``, return the shapes."""
    import numpy as np
    import onnxruntime as ort

    reply: dict = {"onnxruntime": ort.__version__, "error": None, "runs": []}
    try:
        session = _session(model, int(request.get("threads", 1)), request.get("external") or [])
    except Exception as exc:  # onnxruntime's own errors: an invalid or unsupported model
        reply["error"] = f"load: {_first_line(exc)}"
        return reply
    del model
    known = {o.name for o in session.get_outputs()}
    names = [n for n in request["outputs"] if n in known]
    for run in request["runs"]:
        rng = np.random.default_rng(int(request.get("seed", 0)))
        try:
            feeds = {name: _feed(spec, rng, np) for name, spec in run.items()}
            values = session.run(names, feeds)
        except Exception as exc:
            reply["runs"].append({"shapes": {}, "error": _first_line(exc)})
            continue
        reply["runs"].append({"shapes": {n: _shape(v) for n, v in zip(names, values)},
                              "error": None})
        del values, feeds
    return reply


def limit_memory(budget: int) -> None:
    """Cap the address space at its current size plus ``budget`` bytes (Linux; elsewhere
    a no-op, and the parent's up-front estimate is the only bound)."""
    try:
        import resource

        with open("/proc/self/status", encoding="ascii") as status:
            mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = mapped + budget
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, StopIteration, ValueError):
        pass


def main() -> int:
    """Read the request and model from stdin, write the reply to the original stdout."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    result = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray native prints must not corrupt the reply
    stdin = sys.stdin.buffer
    request = json.loads(stdin.readline())
    import numpy  # noqa: F401  (imported before the cap: their mappings are not the model's)
    import onnxruntime  # noqa: F401

    if request.get("memory_budget"):
        limit_memory(int(request["memory_budget"]))
    reply = serve(request, stdin.read())
    json.dump(reply, result)
    result.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
