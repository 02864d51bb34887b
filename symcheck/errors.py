"""The one error type symcheck lets escape, and its exit codes.

Every input that cannot be analysed becomes a :class:`SymcheckError` with a
stable ``code``; the CLI prints it as one line,
``symcheck: error[CODE]: <path>: <reason>``, and exits with
:data:`EXIT_INPUT`. The codes are documented in ``docs/errors.md``.
"""

from __future__ import annotations

import os
import tempfile
import traceback
import unicodedata

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
#: Stopped by a signal (SIGINT, SIGTERM): this plus the signal's number (130, 143), as a shell reports it.
EXIT_SIGNAL = 128

#: Error codes and what they mean; documented in docs/errors.md and README.md.
ERROR_CODES = {
    "not-found": "the path does not exist",
    "not-a-file": "the path is a directory, FIFO, device or other non-regular file",
    "too-large": "the file is larger than the size limit",
    "unreadable": "the file could not be read",
    "not-onnx": "the file is not a serialized ONNX ModelProto",
    "graph-not-model": "the file is a serialized GraphProto, not a ModelProto",
    "nested-too-deep": "messages nest deeper than protobuf's limit of 100 levels",
    "unsupported-opset": "the model's ai.onnx opset is newer than the installed onnx knows, or below 1",
    "empty-model": "the model has no graph, no nodes, no data input, or no output that depends on it",
    "cycle": "the graph has a cycle",
    "undefined-tensor": "a node or graph output reads a tensor that nothing produces",
    "duplicate-tensor": "two nodes write the same tensor, or a node writes a graph input or initializer",
    "bad-dims": "a dimension is negative, a data tensor has a zero dimension, or a window op "
                "(conv, pool) reads a tensor without spatial axes",
    "too-large-dims": "a tensor would hold 2^63 bytes or more: no runtime can address it",
    "bad-attribute": "a node attribute is invalid (zero stride, pads of the wrong length, a bad perm ...)",
    "bad-input-shape": "an --input-shape value does not fit the model",
    "bad-factory": "a pkg.module:factory argument could not be imported or built no model",
    "internal": "symcheck failed unexpectedly (a bug); the traceback is in the log file named",
}

#: Longest reason printed; model-supplied names inside reasons can be huge.
MAX_REASON = 500


def inert(text: str, limit: int = 0) -> str:
    """``text`` with control, format (bidi, zero-width) and line/paragraph separator
    characters replaced by ``?``, shortened to ``limit`` characters when ``limit`` > 0.

    >>> inert("a\\x1b[31mb\\u202ec\\nd")
    'a?[31mb?c?d'
    """
    out = str(text)
    if limit and len(out) > limit:
        keep = (limit - 1) // 2
        out = out[:keep] + "…" + out[-(limit - 1 - keep):]
    if out.isprintable():  # no C* or Z* character but the space: nothing to replace
        return out
    return "".join("?" if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
                   else ch for ch in out)


class SymcheckError(Exception):
    """An input symcheck cannot analyse; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, reason: str) -> None:
        assert code in ERROR_CODES, code
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def line(self, path: str) -> str:
        """The one stderr line; path and reason made inert (no escapes, no newlines)."""
        return f"symcheck: error[{self.code}]: {inert(path)}: {inert(self.reason, MAX_REASON)}"


def internal_error(exc: BaseException) -> SymcheckError:
    """An unexpected exception as ``error[internal]``, its traceback written to a log file.

    The log goes to the system temp directory (never next to the model); the
    reason names it.
    """
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    where = "no log file could be written"
    try:
        fd, log = tempfile.mkstemp(prefix="symcheck-internal-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
            handle.write(text)
        where = f"traceback in {log}"
    except OSError:
        pass
    summary = inert(f"{type(exc).__name__}: {exc}", 200)
    return SymcheckError("internal", f"symcheck failed ({summary}); this is a bug, please report it "
                                     f"({where})")
