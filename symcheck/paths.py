"""Command-line PATHs to model files: files, directories and globs, in a stable order.

``expand(["models", "extra/*.onnx", "a.onnx"])`` gives the files to analyse
and the PATHs that gave none. The rules (also in ``docs/ci.md``):

* A PATH that exists is taken literally, whatever characters it holds (a
  file named ``[1].onnx`` is a file, not a pattern). A file is analysed
  whatever its name; anything else that is not a directory (a FIFO, a
  device) is passed on, and analysis reports it as ``not-a-file`` without
  opening it.
* A directory is searched recursively for ``*.onnx`` (any case). Hidden
  entries (``.git``, ``.venv``, ``.#model.onnx``), ``venv``,
  ``node_modules``, ``__pycache__`` and every folder holding a ``pyvenv.cfg``
  (a virtual environment by any name) are skipped below the directory named.
  Symlinked folders are not followed, and a symlinked file is kept only when
  it resolves inside the directory named: a repository cannot make symcheck
  read a model elsewhere on the machine. A directory holding no model is an
  error (``not-a-file``).
* A PATH that does not exist and holds ``*``, ``?`` or ``[`` is a glob
  (``**`` crosses folders); a match that is a directory is searched as
  above. A glob matching nothing is an error (``not-found``). Any other PATH
  that does not exist is analysed, and reported ``not-found``.

Files are deduplicated by absolute path and sorted by their normalized path,
component by component, so the order never depends on the order of the
arguments or of the file system.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from dataclasses import dataclass
from typing import Iterable, Optional

#: Folder names never searched below a directory PATH (hidden folders are skipped too).
SKIPPED_FOLDERS = frozenset({"venv", "node_modules", "__pycache__"})

_MAGIC = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Expansion:
    """What the PATHs name: ``files`` to analyse, and ``errors`` as ``(path, code, reason)``."""

    files: tuple
    errors: tuple


def sort_key(path: str) -> tuple:
    """Order of files in every report: the normalized path, component by component.

    >>> sorted(["b.onnx", "a/z.onnx", "./a.onnx", "a-b.onnx"], key=sort_key)
    ['a/z.onnx', 'a-b.onnx', './a.onnx', 'b.onnx']
    """
    norm = os.path.normpath(path).replace(os.sep, "/")
    return tuple(norm.split("/")) + (path,)


def is_model_name(name: str) -> bool:
    return name.lower().endswith(".onnx")


def _skipped_folder(entry: os.DirEntry) -> bool:
    if entry.name.startswith(".") or entry.name in SKIPPED_FOLDERS:
        return True
    return os.path.isfile(os.path.join(entry.path, "pyvenv.cfg"))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk(directory: str) -> list:
    """Every model file below ``directory`` (iteratively, symlinked folders not followed).

    Paths are ``os.path.join(directory, relative)``, normalized.
    """
    root_real = os.path.realpath(directory)
    found = []
    stack = [directory]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                listing = sorted(entries, key=lambda e: e.name)
        except OSError:
            continue  # unreadable folder: nothing to find there
        for entry in listing:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not _skipped_folder(entry):
                        stack.append(entry.path)
                    continue
                if entry.name.startswith(".") or not is_model_name(entry.name):
                    continue
                if entry.is_symlink() and not _inside(os.path.realpath(entry.path), root_real):
                    continue  # never follow a link out of the directory named
            except OSError:
                continue
            found.append(os.path.normpath(entry.path))
    return found


def _is_directory(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _exists(path: str) -> bool:
    try:
        return os.path.lexists(path)
    except (OSError, ValueError):
        return False


def expand(paths: Iterable[str]) -> Expansion:
    """Expand command-line PATHs (see the module docstring)."""
    files: dict = {}  # absolute normalized path -> the spelling shown
    errors: dict = {}

    def add(path: str) -> None:
        key = os.path.normpath(os.path.abspath(path))
        if key not in files or sort_key(path) < sort_key(files[key]):
            files[key] = path

    def add_directory(path: str) -> None:
        found = walk(path)
        if not found:
            errors.setdefault(path, ("not-a-file", "a directory holding no .onnx file (searched "
                                                   "recursively, hidden and virtual-environment "
                                                   "folders skipped)"))
        for f in found:
            add(f)

    for path in paths:
        if _exists(path):
            if _is_directory(path):
                add_directory(path)
            else:
                add(path)
        elif _MAGIC.search(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                errors.setdefault(path, ("not-found", "no file matches this pattern"))
            for match in matches:
                if _is_directory(match):
                    add_directory(match)
                elif is_model_name(match) or not _MAGIC.search(os.path.basename(path)):
                    add(match)
        else:
            add(path)
    return Expansion(tuple(sorted(files.values(), key=sort_key)),
                     tuple(sorted(((p, c, r) for p, (c, r) in errors.items()),
                                  key=lambda e: sort_key(e[0]))))


# -- globs in configuration -----------------------------------------------------------

def glob_regex(pattern: str) -> "re.Pattern":
    """A configuration glob as a regex over ``/``-separated relative paths.

    ``*`` and ``?`` stay inside one folder, ``[...]`` is a character class
    (``[!...]`` negated), ``**`` spans folders (``**/`` also matches none).

    >>> bool(glob_regex("models/**/*.onnx").match("models/a/b/c.onnx"))
    True
    >>> bool(glob_regex("models/*.onnx").match("models/a/c.onnx"))
    False
    """
    out = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "]") else i + 1)
            if end < 0:
                out.append(re.escape(ch))
                i += 1
                continue
            body = pattern[i + 1:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def relative_to(path: str, root: Optional[str]) -> str:
    """``path`` relative to ``root`` with ``/`` separators (``root`` None: the current directory)."""
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root or os.curdir))
    except ValueError:  # another drive (Windows)
        rel = os.path.abspath(path)
    return rel.replace(os.sep, "/")


def glob_matches(pattern: str, path: str, root: Optional[str]) -> bool:
    """Whether a configuration glob matches a model file.

    The pattern is matched against the file's path relative to ``root`` (the
    configuration file's folder); a pattern without ``/`` also matches the
    file name alone, in any folder (as in ``.gitignore``).

    >>> glob_matches("*_28.onnx", "samples/matlab_cae_28.onnx", ".")
    True
    >>> glob_matches("samples/*.onnx", "samples/matlab_cae.onnx", ".")
    True
    """
    pattern = pattern.strip()
    if pattern.startswith("./"):
        pattern = pattern[2:]
    pattern = pattern.lstrip("/")
    rx = glob_regex(pattern)
    rel = relative_to(path, root)
    if rx.match(rel):
        return True
    return "/" not in pattern and bool(rx.match(rel.rsplit("/", 1)[-1]))
