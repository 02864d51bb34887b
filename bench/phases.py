"""Where symcheck's static analysis spends its time, stage by stage, on one model.

    python bench/phases.py bench/models/unet_10k.onnx [--runs 5]

Each stage of ``symcheck.analysis.analyze_model`` (and the file read before it
and the JSON after it) is timed by wrapping the function the pipeline calls;
the table shows the fastest of ``--runs`` runs in this one process, since on
a shared machine noise only ever adds time. "other" is what the analysis
spends outside the named stages (reading nodes and initializers from
protobuf, inputs, exporter). For comparing two versions of the code, run
this on each alternately; for the acceptance ratios, ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import symcheck.analysis as analysis  # noqa: E402
import symcheck.rules as rules  # noqa: E402
from symcheck.load import read_model  # noqa: E402
from symcheck.render import json as render_json  # noqa: E402

#: (module, attribute) of each stage, in pipeline order.
STAGES = [(analysis, "check_model"), (analysis, "Propagation"), (analysis, "check_computed"),
          (analysis, "build"),
          (analysis, "check_layer_sizes"), (analysis, "analyse_structure"),
          (analysis, "round_trips"), (rules, "run_rules")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    spent: dict = {}

    def timed(name: str, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    for module, attr in STAGES:
        setattr(module, attr, timed(attr, getattr(module, attr)))
    best: dict = {}
    for _ in range(args.runs):
        spent.clear()
        gc.collect()  # the previous run's garbage is not this run's cost
        t0 = time.perf_counter()
        model = read_model(args.model, skipped={})
        spent["read"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with analysis.collector_paused():  # as symcheck.analyze runs it
            result = analysis.analyze_model(model, args.model, {})
        total = time.perf_counter() - t0
        spent["other"] = total - sum(v for k, v in spent.items() if k != "read")
        spent["analysis (all)"] = total
        gc.disable()  # as the CLI renders
        t0 = time.perf_counter()
        render_json.render(result)
        spent["json"] = time.perf_counter() - t0
        gc.enable()
        for name, seconds in spent.items():
            best[name] = min(best.get(name, float("inf")), seconds)
    order = ["read"] + [attr for _, attr in STAGES] + ["other", "analysis (all)", "json"]
    print(f"{os.path.basename(args.model)}: fastest of {args.runs} runs")
    for name in order:
        if name in best:
            print(f"  {name:<18} {best[name] * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
