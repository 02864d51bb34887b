"""GitHub Actions workflow commands: one annotation per finding.

::

    ::warning file=samples/keras_cae.onnx,title=SC103::size-fixup: conv2d_5 uses padding ...

``error`` findings are ``::error``, ``warning`` ``::warning``, ``info``
``::notice``; a file that could not be analysed is an ``::error`` titled
``error[CODE]``. ONNX files are binary, so annotations name the file and no
line. Escaping follows the Actions toolkit (``command.ts``): data escapes
``%``, CR and LF; properties also ``:`` and ``,``. Model text is made inert
first (control, escape and bidi characters become ``?``) and shortened to
1,000 characters, so a model cannot inject a workflow command or a
terminal escape into the log.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

from ..errors import inert
from ..paths import sort_key

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}
MAX_MESSAGE = 1000


def escape_data(text: str) -> str:
    """A command's message.

    >>> escape_data("50% done\\r\\nnext")
    '50%25 done%0D%0Anext'
    """
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command property's value (``file=``, ``title=``).

    >>> escape_property("a:b,c%")
    'a%3Ab%2Cc%25'
    """
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def display_path(path: str, base: Optional[str] = None) -> str:
    """The path GitHub resolves against the workspace: relative when below ``base``."""
    base = os.path.abspath(base or os.getcwd())
    absolute = os.path.normpath(os.path.join(base, path))
    if absolute.startswith(base.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, base).replace(os.sep, "/")
    return absolute.replace(os.sep, "/")


def command(kind: str, message: str, **properties: str) -> str:
    props = ",".join(f"{k}={escape_property(inert(v, 300))}" for k, v in properties.items())
    return f"::{kind} {props}::{escape_data(inert(message, MAX_MESSAGE))}"


def _record(item) -> dict:
    if isinstance(item, dict):
        return item
    return {"file": item.path, "findings": [f.to_dict() for f in item.findings]}


def render_many(records: Iterable, errors: Iterable = (), base: Optional[str] = None) -> str:
    """Every annotation, files in sorted order; ``errors`` are ``(path, error)``."""
    lines = []
    entries: list = [(r["file"], r, None) for r in map(_record, records)]
    entries += [(path, None, err) for path, err in errors]
    for path, record, err in sorted(entries, key=lambda e: sort_key(e[0])):
        where = display_path(path, base)
        if err is not None:
            lines.append(command("error", err.reason, file=where, title=f"error[{err.code}]"))
            continue
        for f in record["findings"]:
            lines.append(command(COMMAND[f["severity"]], f"{f['name']}: {f['message']}",
                                 file=where, title=f["code"]))
    return "".join(line + "\n" for line in lines)


def render(analysis) -> str:
    """One model's annotations."""
    return render_many([analysis])
