"""The package is typed (``py.typed``) and mypy finds nothing in ``symcheck/``.

mypy reads its settings from ``[tool.mypy]`` in pyproject.toml (Python 3.10,
untyped third-party modules listed in the overrides); its cache in
``.mypy_cache`` keeps a repeated run to a few seconds.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_package_is_marked_typed():
    assert os.path.isfile(os.path.join(ROOT, "symcheck", "py.typed"))


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (pip install -e .[test])")
def test_mypy_is_clean():
    proc = subprocess.run([sys.executable, "-m", "mypy", "symcheck"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
