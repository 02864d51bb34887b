"""``[tool.symcheck]`` in pyproject.toml: discovery and validation.

symcheck reads the nearest ``pyproject.toml`` that has a ``[tool.symcheck]``
table, walking up from the current directory (or the file given with
``--config``). Keys share their names with the command-line options, and an
option given on the command line overrides its key::

    [tool.symcheck]
    select = ["SC1", "SC2"]            # codes, prefixes or names (--select)
    ignore = ["SC104"]                 # (--ignore)
    fail-on = "warning"                # info | warning | error (--fail-on)
    verify = false                     # (--verify / --no-verify)
    max-memory = "1G"                  # (--max-memory)
    verify-timeout = 30                # seconds (--verify-timeout)
    per-file-ignores = { "legacy/*.onnx" = ["SC201", "SC204"] }
    input-shapes = { "dynamic/*.onnx" = "1x1x28x28",
                     "unet_*.onnx" = { image = "1x3x256x256" } }

Globs are relative to the folder of the configuration file (see
:func:`symcheck.paths.glob_matches`). Every value is checked before any model
is read: an unknown key or a bad value is a :class:`ConfigError`, which the
command line prints as one line naming the key and exits 2.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .paths import glob_matches
from .rules import unknown_entries

#: Keys of ``[tool.symcheck]`` and the ``check`` parameter each one sets a default for
#: (None: no single option; the key is applied per file).
KEYS = {
    "select": "select",
    "ignore": "ignore",
    "fail-on": "fail_on",
    "verify": "run_verify",
    "max-memory": "max_memory",
    "verify-timeout": "verify_timeout",
    "per-file-ignores": None,
    "input-shapes": None,
}

FAIL_ON = ("info", "warning", "error")


class ConfigError(Exception):
    """A configuration file symcheck cannot use; ``line()`` is the one stderr line."""

    def __init__(self, path: str, key: Optional[str], message: str) -> None:
        super().__init__(message)
        self.path, self.key, self.message = path, key, message

    def line(self) -> str:
        from .errors import inert

        where = f"[tool.symcheck] {self.key}: " if self.key else ""
        return f"symcheck: config error: {inert(self.path)}: {where}{inert(self.message, 300)}"


@dataclass(frozen=True)
class Config:
    """A validated ``[tool.symcheck]`` table.

    ``defaults`` maps ``check`` parameter names to values (click's
    ``default_map``); ``per_file_ignores`` and ``input_shapes`` are
    ``(glob, value)`` pairs in file order, matched against paths relative to
    ``root``.
    """

    path: Optional[str] = None
    root: Optional[str] = None
    defaults: dict = field(default_factory=dict)
    per_file_ignores: tuple = ()
    input_shapes: tuple = ()

    def ignores_for(self, path: str) -> list:
        """Codes the matching ``per-file-ignores`` globs add to ``ignore`` (all of them)."""
        return [code for pattern, codes in self.per_file_ignores
                if glob_matches(pattern, path, self.root) for code in codes]

    def input_shapes_for(self, path: str) -> dict:
        """The pins of the first ``input-shapes`` glob that matches, ``{}`` when none does."""
        for pattern, pins in self.input_shapes:
            if glob_matches(pattern, path, self.root):
                return dict(pins)
        return {}


def find_pyproject(start: Optional[str] = None) -> Optional[str]:
    """The nearest ``pyproject.toml`` with a ``[tool.symcheck]`` table, from ``start`` up.

    A pyproject.toml that cannot be parsed stops the search (it may hold the
    table): :func:`load` then reports it.
    """
    folder = os.path.abspath(start or os.getcwd())
    while True:
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate):
            try:
                with open(candidate, "rb") as handle:
                    data = tomllib.load(handle)
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                return candidate
            if isinstance(data.get("tool"), dict) and "symcheck" in data["tool"]:
                return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def shown_path(path: str) -> str:
    """``path`` relative to the current directory when it is below it, else absolute."""
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute) if absolute.startswith(os.getcwd() + os.sep) else absolute
    return rel


def load(path: str) -> Config:
    """Read and validate a configuration file.

    A file with a ``[tool]`` table (pyproject.toml) is read for
    ``[tool.symcheck]``; any other TOML file is the table itself (keys at the
    top level).
    """
    shown = shown_path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(shown, None, f"cannot read it ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, None, f"not valid TOML ({exc})") from None
    if isinstance(data.get("tool"), dict) or os.path.basename(path) == "pyproject.toml":
        table = (data.get("tool") or {}).get("symcheck", {})
    else:
        table = data
    if not isinstance(table, dict):
        raise ConfigError(shown, None, "[tool.symcheck] must be a table")
    return validate(table, shown, os.path.dirname(os.path.abspath(path)))


def validate(table: dict, path: str = "pyproject.toml", root: Optional[str] = None) -> Config:
    """A :class:`Config` from a raw table; :class:`ConfigError` names the first bad key."""
    defaults: dict = {}
    per_file: tuple = ()
    shapes: tuple = ()
    for key, value in table.items():
        if key not in KEYS:
            close = difflib.get_close_matches(key.replace("_", "-"), list(KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(KEYS)})"
            raise ConfigError(path, key, f"unknown key{hint}")
        if key in ("select", "ignore"):
            defaults[KEYS[key]] = tuple(_codes(path, key, value))
        elif key == "fail-on":
            if value not in FAIL_ON:
                raise ConfigError(path, key, f"must be one of {', '.join(FAIL_ON)}, not {value!r}")
            defaults["fail_on"] = value
        elif key == "verify":
            if not isinstance(value, bool):
                raise ConfigError(path, key, f"must be true or false, not {value!r}")
            defaults["run_verify"] = value
        elif key == "max-memory":
            from .limits import parse_memory

            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ConfigError(path, key, f"must be a size like \"512M\" or \"2G\", not {value!r}")
            try:
                defaults["max_memory"] = str(parse_memory(str(value)))
            except ValueError as exc:
                raise ConfigError(path, key, str(exc)) from None
        elif key == "verify-timeout":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(path, key, f"must be a positive number of seconds, not {value!r}")
            defaults["verify_timeout"] = float(value)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(path, key, "must be a table of glob = [codes]")
            per_file = tuple((_glob(path, key, g), tuple(_codes(path, key, codes, g)))
                             for g, codes in value.items())
        elif key == "input-shapes":
            if not isinstance(value, dict):
                raise ConfigError(path, key, "must be a table of glob = \"1x1x28x28\" or "
                                             "glob = { input = \"1x1x28x28\" }")
            shapes = tuple((_glob(path, key, g), _pins(path, key, pins, g))
                           for g, pins in value.items())
    return Config(path=path, root=root, defaults=defaults, per_file_ignores=per_file,
                  input_shapes=shapes)


def _glob(path: str, key: str, pattern) -> str:
    if not pattern.strip():
        raise ConfigError(path, key, "an empty glob")
    return pattern


def _codes(path: str, key: str, value, pattern: Optional[str] = None) -> list:
    """Rule codes, prefixes or names: a list of strings or one comma-separated string."""
    where = "" if pattern is None else f"{pattern!r}: "
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise ConfigError(path, key, f"{where}must be a list of rule codes, prefixes or names, "
                                     f"not {value!r}")
    codes = [part.strip() for item in items for part in item.split(",") if part.strip()]
    bad = unknown_entries(codes)
    if bad:
        raise ConfigError(path, key, f"{where}unknown rule code or name {bad[0]!r} "
                                     "(see `symcheck rules`)")
    return codes


def parse_shape(text) -> tuple:
    """``"1x1x28x28"`` (or a list of ints) -> ``(1, 1, 28, 28)``; ValueError when not one."""
    if isinstance(text, list) and text and all(isinstance(d, int) and not isinstance(d, bool)
                                               for d in text):
        dims = tuple(text)
    elif isinstance(text, str):
        try:
            dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x") if d.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a shape like \"1x1x28x28\"") from None
    else:
        raise ValueError(f"{text!r} is not a shape like \"1x1x28x28\"")
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"{text!r} needs positive dimensions, like \"1x1x28x28\"")
    return dims


def _pins(path: str, key: str, value, pattern: str) -> tuple:
    """``"1x1x28x28"`` pins the first input; ``{name = "1x1x28x28"}`` pins inputs by name."""
    try:
        if isinstance(value, dict):
            if not value:
                raise ValueError("an empty table")
            return tuple((str(name), parse_shape(shape)) for name, shape in value.items())
        return (("", parse_shape(value)),)
    except ValueError as exc:
        raise ConfigError(path, key, f"{pattern!r}: {exc}") from None
