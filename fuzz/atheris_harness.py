"""Coverage-guided fuzzing of symcheck's static analysis with atheris.

The oracle is the one the test suite uses (tests/test_fuzz.py): for any input
bytes, ``symcheck.analyze`` and both renderers either succeed or raise
:class:`symcheck.errors.SymcheckError` with a code other than ``internal``.
Any other exception, or an answer that takes longer than ``--case-timeout``
seconds, is a crash that atheris saves as ``crash-<sha1>`` in the working
directory.

Inputs are raw model bytes. With ``--structured`` (the default) half of the
runs instead take a bundled sample and apply the structural mutations of
``tests/hostile.py`` (attribute ints, dims, names, wiring, op types) driven
by the fuzzer's bytes, which reaches far deeper than byte flips alone.

Run (see fuzz/README.md)::

    pip install atheris
    python fuzz/atheris_harness.py fuzz/corpus -max_total_time=3600
"""

from __future__ import annotations

import os
import random
import signal
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports():
    import symcheck
    from symcheck.errors import SymcheckError
    from symcheck.render import json as json_render
    from symcheck.render import text as text_render

import onnx  # noqa: E402

from tests.hostile import mutate_fields  # noqa: E402

SAMPLES = [onnx.load_from_string(p.read_bytes()) for p in sorted((ROOT / "samples").glob("*.onnx"))]
CASE_TIMEOUT = int(os.environ.get("SYMCHECK_FUZZ_CASE_TIMEOUT", "10"))
STRUCTURED = os.environ.get("SYMCHECK_FUZZ_STRUCTURED", "1") != "0"


class Hang(Exception):
    """The analysis of one input took longer than CASE_TIMEOUT seconds."""


def _alarm(signum, frame):
    raise Hang(f"no answer within {CASE_TIMEOUT} s")


def _source(data: bytes):
    """Raw bytes, or (structured mode, first byte odd) a mutated sample."""
    if STRUCTURED and data and data[0] & 1:
        fdp = atheris.FuzzedDataProvider(data[1:])
        sample = SAMPLES[fdp.ConsumeIntInRange(0, len(SAMPLES) - 1)]
        rng = random.Random(fdp.ConsumeInt(8))
        return mutate_fields(sample, rng)
    return data


def test_one_input(data: bytes) -> None:
    source = _source(data)
    signal.alarm(CASE_TIMEOUT)
    try:
        analysis = symcheck.analyze(source)
        text_render.render(analysis)
        json_render.render(analysis)
    except SymcheckError as err:
        if err.code == "internal":
            raise AssertionError(f"internal error: {err.reason}") from None
    finally:
        signal.alarm(0)


def main() -> None:
    signal.signal(signal.SIGALRM, _alarm)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
