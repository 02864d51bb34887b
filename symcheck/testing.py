"""Symmetry checks for your own test suite.

>>> from symcheck.testing import assert_symmetric
>>> assert_symmetric("samples/matlab_cae.onnx")  # notes only: passes
<Analysis matlab_cae.onnx: symmetric with notes, 3 findings>
>>> assert_symmetric("samples/keras_cae.onnx")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
AssertionError: keras_cae.onnx is asymmetric: 4 finding(s) at or above warning (SC101, SC102, SC103)...
"""

from __future__ import annotations

from typing import Any, Collection, Optional, Sequence

from .analysis import SEVERITY_RANK, Analysis, analyze

__all__ = ["assert_symmetric"]


def assert_symmetric(model: Any, allow: Collection[str] = (), input_shape: Optional[Sequence[int]] = None,
                     fail_on: str = "warning") -> Analysis:
    """Raise ``AssertionError`` when ``model``'s decoder does not mirror its encoder.

    ``model`` is anything :func:`symcheck.analyze` takes: a path, bytes, an
    ``onnx.ModelProto``, a ``torch.nn.Module`` (with ``input_shape``) or a
    Keras model. Findings at or above ``fail_on`` fail the assertion unless
    their code (or a prefix of it, ``"SC2"``) is in ``allow``; a model without
    a decoder fails too. The message is the full text report. Returns the
    analysis when it passes, for further checks.
    """
    analysis = analyze(model, input_shape=input_shape)
    threshold = SEVERITY_RANK[fail_on]
    allowed = tuple(code.upper() for code in allow)
    failing = [f for f in analysis.findings
               if SEVERITY_RANK[f.severity] >= threshold and not f.code.startswith(allowed or ("\0",))]
    if not analysis.is_encoder_decoder:
        raise AssertionError(f"{_label(analysis)} has no decoder (SC001)\n\n{analysis}")
    if failing:
        codes = ", ".join(sorted({f.code for f in failing}))
        raise AssertionError(
            f"{_label(analysis)} is asymmetric: {len(failing)} finding(s) at or above {fail_on} "
            f"({codes})\n\n{analysis}")
    return analysis


def _label(analysis: Analysis) -> str:
    import os

    return os.path.basename(analysis.path)
