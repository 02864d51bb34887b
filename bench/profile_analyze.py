"""Profile ``symcheck.analyze`` on one generated model with cProfile.

    python bench/profile_analyze.py unet_10k       # -> bench/out/profile_unet_10k.{txt,pstats}

Prints the top functions by cumulative and by own time (file:line(function)).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    import symcheck

    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv[0] if argv else "unet_10k"
    path = name if os.path.exists(name) else os.path.join(HERE, "models", f"{name}.onnx")
    stem = os.path.splitext(os.path.basename(path))[0]
    symcheck.analyze(os.path.join(HERE, "models", "unet_100.onnx"))  # warm imports
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    symcheck.analyze(path)
    profiler.disable()
    out = io.StringIO()
    out.write(f"symcheck.analyze({path}): {time.perf_counter() - t0:.2f} s under cProfile\n")
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    profiler.dump_stats(os.path.join(HERE, "out", f"profile_{stem}.pstats"))
    with open(os.path.join(HERE, "out", f"profile_{stem}.txt"), "w", encoding="utf-8") as handle:
        handle.write(out.getvalue())
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
