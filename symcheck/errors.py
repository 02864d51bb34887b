"""The one error type symcheck lets escape, and its exit codes.

Every input that cannot be analysed becomes a :class:`SymcheckError` with a
stable ``code``; the CLI prints it as one line,
``symcheck: error[CODE]: <path>: <reason>``, and exits with
:data:`EXIT_INPUT`.
"""

from __future__ import annotations

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2

#: Error codes and what they mean; documented in README.md.
ERROR_CODES = {
    "not-found": "the path does not exist",
    "not-a-file": "the path is a directory, FIFO, device or other non-regular file",
    "too-large": "the file is larger than the size limit",
    "not-onnx": "the file is not a serialized ONNX ModelProto",
    "empty-model": "the model has no graph, no nodes or no data input",
    "cycle": "the graph has a cycle",
    "undefined-tensor": "a node reads a tensor that nothing produces",
    "bad-input-shape": "an --input-shape value does not fit the model",
    "unreadable": "the file could not be read",
    "internal": "symcheck failed unexpectedly (a bug)",
}


class SymcheckError(Exception):
    """An input symcheck cannot analyse; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, reason: str) -> None:
        assert code in ERROR_CODES, code
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def line(self, path: str) -> str:
        return f"symcheck: error[{self.code}]: {path}: {self.reason}"
