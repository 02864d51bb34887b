"""Shared fixtures: the bundled samples and the external MATLAB file, read in place."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
EXTERNAL = ROOT.parent / "shared" / "external"


def sample(name: str) -> str:
    return str(SAMPLES / name)


@pytest.fixture(scope="session")
def external_matlab() -> str:
    path = EXTERNAL / "matlab" / "NN_rul_small_window_20.onnx"
    if not path.exists():
        pytest.skip("../shared/external is not next to this checkout")
    return str(path)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The architecture corpus (tests/corpus.py), exported once per session on first use."""
    pytest.importorskip("torch")
    from .corpus import Corpus

    return Corpus(tmp_path_factory.mktemp("corpus"))
