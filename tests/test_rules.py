"""Every rule, run alone (``select=[code]``), on a model where it fires and one where it must not.

Models are the samples, the architecture corpus (tests/corpus.py) and the
external MATLAB regressor. Counts are exact: a rule that fires once per level
fires that many times.
"""

from __future__ import annotations

import pytest

import symcheck
from symcheck.rules import RULES

from .conftest import EXTERNAL, sample

# code -> ((model that fires, how many findings), model where it must stay silent)
CASES = {
    "SC001": (("external:matlab", 1), "sample:keras_cae.onnx"),
    "SC002": (("sample:matlab_cae_28.onnx", 1), "sample:matlab_cae.onnx"),
    "SC003": (("corpus:extra_up", 1), "corpus:unet"),
    "SC101": (("sample:keras_cae.onnx", 1), "sample:matlab_cae.onnx"),
    "SC102": (("sample:keras_cae.onnx", 2), "corpus:unet_original"),  # SC302 speaks there
    "SC103": (("sample:keras_cae.onnx", 1), "corpus:unet_original"),  # valid convs, no repair
    "SC104": (("sample:keras_cae.onnx", 1), "external:matlab"),
    "SC105": (("corpus:unet_original", 1), "corpus:unet"),
    "SC201": (("sample:keras_cae.onnx", 1), "corpus:bilinear"),
    "SC202": (("corpus:wide_decoder", 1), "sample:keras_cae.onnx"),
    "SC203": (("corpus:kernel_mismatch", 2), "sample:keras_cae.onnx"),  # SC103 owns conv2d_5
    "SC204": (("sample:matlab_cae.onnx", 1), "corpus:bilinear"),
    "SC301": (("corpus:strided_k3", 2), "corpus:strided_k4"),
    "SC302": (("corpus:unet_original", 4), "corpus:unet"),
    "SC303": (("corpus:vae_overcomplete", 1), "corpus:vae"),
}


def resolve(ref: str, corpus) -> str:
    kind, name = ref.split(":", 1)
    if kind == "sample":
        return sample(name)
    if kind == "external":
        path = EXTERNAL / "matlab" / "NN_rul_small_window_20.onnx"
        if not path.exists():
            pytest.skip("../shared/external is not next to this checkout")
        return str(path)
    return corpus[name]


def test_every_static_rule_has_cases():
    static = {code for code in RULES if not code.startswith("SC9")}  # SC9xx: verification
    assert static == set(CASES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_fires_alone(code, corpus):
    (fires, count), _ = CASES[code]
    a = symcheck.analyze(resolve(fires, corpus), select=[code])
    assert [f.code for f in a.findings] == [code] * count
    assert all(f.name == RULES[code].name and f.severity == RULES[code].severity for f in a.findings)


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_stays_silent(code, corpus):
    _, silent = CASES[code]
    a = symcheck.analyze(resolve(silent, corpus), select=[code])
    assert a.findings == []


def test_shape_disagreement_fires_only_on_a_planted_error():
    from symcheck.verify import attach, verify

    a = symcheck.analyze(sample("matlab_cae.onnx"))
    attach(a, verify(a))
    assert not [f for f in a.findings if f.code == "SC901"]
    b = symcheck.analyze(sample("matlab_cae.onnx"))
    layer = next(l for l in b.layers.layers.values() if l.name == "conv_2")
    layer.out_shape = layer.out_shape[:2] + (15, 15)  # plant a wrong inferred shape
    attach(b, verify(b))
    assert [f.layers for f in b.findings if f.code == "SC901"] == [("conv_2",)]
