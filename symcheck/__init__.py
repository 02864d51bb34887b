"""symcheck: static shape-and-symmetry analysis of encoder-decoder ONNX models.

>>> import symcheck
>>> analysis = symcheck.analyze("samples/keras_cae.onnx")  # doctest: +SKIP
>>> analysis.ladder_text()  # doctest: +SKIP
'28 → 14 → 7 → 4 ‖ 4 → 8 → 16 → 14 → 28'
"""

__version__ = "0.1.0"

from .analysis import Analysis, Finding, analyze  # noqa: E402
from .errors import SymcheckError  # noqa: E402

__all__ = ["Analysis", "Finding", "SymcheckError", "analyze", "__version__"]
