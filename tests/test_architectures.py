"""The architecture corpus: exact ladders, pairings, skips, finding codes and verdicts.

Models come from ``tests/corpus.py`` (PyTorch, exported on first use at seed 0)
and ``tests/data/keras/`` (committed tf2onnx exports). Every expectation is
worked out from the model's definition, not copied from symcheck's output.

Conventions the expectations rely on (the lead's design decisions):

* levels count transitions along the longest input→output path; the encoder ends
  at the LAST down transition, so learned layers at the bottleneck level are on the
  decoder side;
* pairing is one-to-one: stem (first learned layer) ↔ head (last learned layer);
  every other decoder layer pairs with an encoder layer that *writes* at the level
  the decoder layer *reads*, preferring an exact inverse channel map, then a
  partial match, then mirror order; a learned layer left over is SC201;
* a pair's level is the level the encoder layer writes (= the decoder layer reads);
* SC204 is one finding per (down kind, up kind) mismatch, whatever the levels;
  SC102 is one finding per level;
* verdict: 'asymmetric' with any warning or error, 'symmetric with notes' with
  only infos, else 'symmetric';
* the ladder collapses a run of adjustments into its last size (572 → 568, not
  572 → 570 → 568), as ``Analysis.ladder`` documents.
"""

from __future__ import annotations

import pytest

import symcheck
from symcheck.rules import round_trip_statement
from symcheck.structure import spatial_in, spatial_of

from .corpus import KERAS_MODELS, MODELS


# -- helpers -------------------------------------------------------------------

def codes(a) -> list:
    return sorted(f.code for f in a.findings)


def by_code(a, code) -> list:
    return [f for f in a.findings if f.code == code]


def pairs(a) -> list:
    return [(a.layer(p.encoder).name, a.layer(p.decoder).name, p.level) for p in a.structure.pairs]


def unpaired(a) -> list:
    return [a.layer(i).name for i in a.structure.unpaired]


def skips(a) -> list:
    """(merge kind, encoder source name, level the merge reads) per skip, in path order."""
    out = []
    for merge, src in a.structure.skips:
        level = a.structure.level_of.get(merge)
        out.append((a.layer(merge).kind, a.layer(src).name, level))
    return out


def path_names(a) -> list:
    return [a.layer(i).name for i in a.structure.path[1:-1]]


def path_kinds(a) -> list:
    return [a.layer(i).kind for i in a.structure.path[1:-1]]


def layer_named(a, name):
    found = [layer for layer in a.layers.layers.values() if layer.name == name]
    assert len(found) == 1, f"{name!r}: {len(found)} layers"
    return found[0]


def no_warnings_or_errors(a) -> bool:
    c = a.counts()
    return c["warning"] == 0 and c["error"] == 0


# -- 1. the 4-level U-Net with padding=1 convs -----------------------------------

UNET_PAIRS = [
    ("enc1.0", "head", 0), ("enc1.2", "dec1.2", 0), ("enc1.2", "dec1.0", 0),
    ("enc2.0", "up1", 1), ("enc2.2", "dec2.2", 1), ("enc2.2", "dec2.0", 1),
    ("enc3.0", "up2", 2), ("enc3.2", "dec3.2", 2), ("enc3.2", "dec3.0", 2),
    ("enc4.0", "up3", 3), ("enc4.2", "dec4.2", 3), ("enc4.2", "dec4.0", 3),
]
# Inverse maps pair enc k.0 (c/2→c) ↔ up k (c→c/2) and enc k.2 ↔ dec k.2; the conv
# reading each Concat (2c→c) exists because of the skip and pairs with the skip's
# source (a "skip" pair: the skip is the strongest mirror evidence, DESIGN.md).
# The bottleneck double conv and the up-conv reading it have no encoder layer writing
# at level 4: one SC201 for that level.
UNET_UNPAIRED = ["bottleneck.0", "bottleneck.2", "up4"]
UNET_SKIPS = [("concat", "enc4.2", 3), ("concat", "enc3.2", 2), ("concat", "enc2.2", 1),
              ("concat", "enc1.2", 0)]
UNET_CODES = ["SC104", "SC201", "SC204"]


@pytest.mark.parametrize("name", ["unet", "unet_dynamo"])
def test_unet_256_is_symmetric(corpus, name):
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "256 → 128 → 64 → 32 → 16 ‖ 16 → 32 → 64 → 128 → 256"
    levels = a.structure.levels
    assert [lv.encoder_size for lv in levels] == [(256, 256), (128, 128), (64, 64), (32, 32), (16, 16)]
    assert [lv.decoder_size for lv in levels] == [(256, 256), (128, 128), (64, 64), (32, 32), (16, 16)]
    assert [lv.encoder_width for lv in levels[:4]] == [4, 8, 16, 32]
    assert [lv.decoder_width for lv in levels[:4]] == [4, 8, 16, 32]
    assert [a.layer(lv.down).name for lv in levels[:4]] == ["pool1", "pool2", "pool3", "pool4"]
    assert [a.layer(lv.up).name for lv in levels[:4]] == ["up1", "up2", "up3", "up4"]
    assert a.bottleneck.name == "pool4"
    assert pairs(a) == UNET_PAIRS
    assert unpaired(a) == UNET_UNPAIRED
    assert skips(a) == UNET_SKIPS  # a skip at every level, each joining equal sizes
    assert codes(a) == UNET_CODES
    assert no_warnings_or_errors(a)
    sc204 = by_code(a, "SC204")[0]  # max-pool ↓ vs learned transposed conv ↑, one finding
    assert {"pool1", "pool2", "pool3", "pool4", "up1", "up2", "up3", "up4"} <= set(sc204.layers)
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 16)"
    assert a.verdict == "symmetric with notes"


# -- 2. the original U-Net: valid convs, cropped skips, 572 → 388 ------------------

def test_original_unet_crops_are_skip_mismatches(corpus):
    a = symcheck.analyze(corpus["unet_original"])
    assert a.ladder_text() == ("572 → 568 → 284 → 280 → 140 → 136 → 68 → 64 → 32 ‖ "
                               "32 → 28 → 56 → 52 → 104 → 100 → 200 → 196 → 392 → 388")
    assert a.output_layer.out_shape[1:] == (2, 388, 388)
    assert not a.is_reconstruction  # 2 output channels for 1 input channel: dense prediction
    assert pairs(a) == UNET_PAIRS
    assert unpaired(a) == UNET_UNPAIRED
    assert [(kind, src, lv) for kind, src, lv in skips(a)] == UNET_SKIPS
    # SC302 on each skip (the crop is the evidence); not SC002 (dense prediction), no
    # SC104 (it never gives back its input: SC105 states the tiling instead).
    # Demanding-user choice: no SC102 at levels whose skip already reports the size
    # difference as SC302 (one fact, one finding), and no SC103 for the decoder's valid
    # convs, which mirror the encoder's valid convs rather than repair anything.
    assert codes(a) == ["SC105", "SC201", "SC204"] + ["SC302"] * 4
    sc302 = by_code(a, "SC302")
    assert [f.layers[1] for f in sc302] == ["enc4.2", "enc3.2", "enc2.2", "enc1.2"]
    assert [f.level for f in sc302] == [3, 2, 1, 0]
    merges = [a.layer(m).name for m, _ in a.structure.skips]
    assert [f.layers[0] for f in sc302] == merges  # names the merge first
    assert "64×64" in sc302[0].message and "56×56" in sc302[0].message
    assert "568×568" in sc302[3].message and "392×392" in sc302[3].message
    assert all(f.severity == "error" for f in sc302)
    sc105 = by_code(a, "SC105")[0]  # tiling: H → H - 184 for H ≡ 12 (mod 16), H ≥ 188
    assert "184" in sc105.message and "H ≡ 12 (mod 16)" in sc105.message
    assert "188" in sc105.message
    assert a.verdict == "asymmetric"


# -- 3. U-Net with residual (Add) skips --------------------------------------------

def test_add_unet(corpus):
    a = symcheck.analyze(corpus["unet_add"])
    assert a.ladder_text() == "64 → 32 → 16 → 8 ‖ 8 → 16 → 32 → 64"
    # level k: enc k.0 (c/2→c) ↔ up k (c→c/2); enc k.2 (c→c) ↔ dec k.0, the first
    # c→c decoder conv in mirror order; dec k.2 is left over.
    assert pairs(a) == [("enc1.0", "head", 0), ("enc1.2", "dec1.0", 0),
                        ("enc2.0", "up1", 1), ("enc2.2", "dec2.0", 1),
                        ("enc3.0", "up2", 2), ("enc3.2", "dec3.0", 2)]
    assert unpaired(a) == ["bottleneck.0", "bottleneck.2", "up3", "dec3.2", "dec2.2", "dec1.2"]
    assert skips(a) == [("add", "enc3.2", 2), ("add", "enc2.2", 1), ("add", "enc1.2", 0)]
    # one SC201 per level: the bottleneck block (level 3) and each extra dec k.2
    assert codes(a) == ["SC104"] + ["SC201"] * 4 + ["SC204"]
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 8)"
    assert a.verdict == "symmetric with notes"


# -- 4. strided convs and transposed convs -----------------------------------------

STRIDED_PAIRS = [("encoder.0", "decoder.4", 0), ("encoder.2", "decoder.2", 1),
                 ("encoder.4", "decoder.0", 2)]


def test_strided_k3_transposed_convs_risk_checkerboard(corpus):
    a = symcheck.analyze(corpus["strided_k3"])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert path_kinds(a) == ["conv", "conv", "conv", "conv-transpose", "conv-transpose", "conv"]
    assert [s.role for s in a.structure.steps] == ["keep", "down", "down", "up", "up", "keep"]
    assert pairs(a) == STRIDED_PAIRS  # learned transitions pair across the same two levels
    assert unpaired(a) == []
    assert [lv.encoder_width for lv in a.structure.levels[:2]] == [4, 8]
    assert [lv.decoder_width for lv in a.structure.levels[:2]] == [4, 8]
    # strided conv ↔ transposed conv is a mirror: no SC204; same kernels: no SC203
    assert codes(a) == ["SC104", "SC301", "SC301"]
    assert [f.layers for f in by_code(a, "SC301")] == [("decoder.0",), ("decoder.2",)]
    assert "kernel 3 and stride 2" in by_code(a, "SC301")[0].message
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.verdict == "asymmetric"


def test_strided_k4_has_no_checkerboard(corpus):
    a = symcheck.analyze(corpus["strided_k4"])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert pairs(a) == STRIDED_PAIRS
    assert codes(a) == ["SC104"]
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.verdict == "symmetric with notes"


# -- 5. Conv1d on signals of length 100 --------------------------------------------

def test_conv1d_rounding_on_axis_L(corpus):
    a = symcheck.analyze(corpus["conv1d"])
    assert a.ladder_text() == "100 → 50 → 25 → 13 ‖ 13 → 26 → 52 → 104"
    assert pairs(a) == [("encoder.0", "decoder.7", 0), ("encoder.3", "decoder.4", 1),
                        ("encoder.6", "decoder.1", 2)]
    assert unpaired(a) == []
    assert [lv.encoder_size for lv in a.structure.levels] == [(100,), (50,), (25,), (13,)]
    assert [lv.decoder_size for lv in a.structure.levels] == [(104,), (52,), (26,), (13,)]
    assert codes(a) == ["SC002", "SC101", "SC102", "SC102", "SC102", "SC104"]
    assert by_code(a, "SC101")[0].layers == ("encoder.8",)
    assert "25 to 13" in by_code(a, "SC101")[0].message
    assert sorted(f.level for f in by_code(a, "SC102")) == [0, 1, 2]
    assert round_trip_statement(a) == "L ≡ 0 (mod 8)"
    assert a.verdict == "asymmetric"


# -- 6. Conv3d on 16×32×32 volumes -----------------------------------------------

def test_conv3d_per_axis_ladder(corpus):
    a = symcheck.analyze(corpus["conv3d"])
    # Demanding-user choice: with an anisotropic input every ladder entry shows all
    # axes, so "16×16×16" is not abbreviated to "16" next to "16×32×32".
    assert a.ladder_text() == ("16×32×32 → 16×16×16 → 8×8×8 ‖ 8×8×8 → 16×16×16 → 16×32×32")
    levels = a.structure.levels
    assert [lv.encoder_size for lv in levels] == [(16, 32, 32), (16, 16, 16), (8, 8, 8)]
    assert [lv.decoder_size for lv in levels] == [(16, 32, 32), (16, 16, 16), (8, 8, 8)]
    assert pairs(a) == [("encoder.0", "decoder.4", 0), ("encoder.3", "decoder.1", 1)]
    assert codes(a) == ["SC104"]
    assert round_trip_statement(a) == "D ≡ 0 (mod 2); H, W ≡ 0 (mod 4)"
    assert a.verdict == "symmetric with notes"


# -- 7. pixel unshuffle / pixel shuffle ---------------------------------------------

def test_pixel_shuffle(corpus):
    a = symcheck.analyze(corpus["pixel_shuffle"])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert path_names(a) == ["encoder.0", "encoder.2", "encoder.3", "encoder.5",
                             "decoder.0", "decoder.2", "decoder.3", "decoder.5", "decoder.6"]
    assert path_kinds(a) == ["conv", "space-to-depth", "conv", "space-to-depth",
                             "conv", "pixel-shuffle", "conv", "pixel-shuffle", "conv"]
    assert pairs(a) == [("encoder.0", "decoder.6", 0), ("encoder.3", "decoder.3", 1)]
    assert unpaired(a) == ["decoder.0"]  # 8→8 at the 8×8 bottleneck, feeding the shuffle
    assert [lv.encoder_width for lv in a.structure.levels[:2]] == [2, 2]
    assert [lv.decoder_width for lv in a.structure.levels[:2]] == [2, 2]
    assert codes(a) == ["SC104", "SC201"]  # both transitions fixed: no SC204
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.verdict == "symmetric with notes"


# -- 8. Resize: bilinear ×2, and resize to the skip's size ----------------------------

@pytest.mark.parametrize("name", ["bilinear", "bilinear_dynamo"])
def test_bilinear_upsampling(corpus, name):
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert path_kinds(a) == ["conv", "max-pool", "conv", "max-pool",
                             "upsample", "conv", "upsample", "conv"]
    assert path_names(a) == ["encoder.0", "encoder.2", "encoder.3", "encoder.5",
                             "decoder.0", "decoder.1", "decoder.3", "decoder.4"]
    assert pairs(a) == [("encoder.0", "decoder.4", 0), ("encoder.3", "decoder.1", 1)]
    assert codes(a) == ["SC104"]  # max-pool ↔ bilinear upsample mirror: no SC204
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.verdict == "symmetric with notes"


RESIZE_PAIRS = [("enc1.0", "head", 0), ("enc1.0", "dec1.0", 0), ("enc2.0", "dec2.0", 1),
                ("enc3.0", "dec3.0", 2)]
RESIZE_UNPAIRED = ["mid.0"]  # mid.0 reads the bottleneck; dec1.0 reads the skip (a "skip" pair)


def _check_resize_at_28(a):
    assert a.ladder_text() == "28 → 14 → 7 → 3 ‖ 3 → 7 → 14 → 28"
    assert pairs(a) == RESIZE_PAIRS
    assert unpaired(a) == RESIZE_UNPAIRED
    assert [(src, lv) for _, src, lv in skips(a)] == [("enc3.0", 2), ("enc2.0", 1), ("enc1.0", 0)]
    assert codes(a) == ["SC101", "SC103", "SC104", "SC201"]
    sc101 = by_code(a, "SC101")[0]
    assert sc101.layers == ("pool3",) and "7×7 to 3×3" in sc101.message
    sc103 = by_code(a, "SC103")[0]  # the resize back to the skip's 7×7 repairs pool3
    assert "3×3 to 7×7" in sc103.message and "pool3" in sc103.layers
    assert a.layer(a.structure.levels[2].up).kind == "upsample"
    assert not by_code(a, "SC102")  # the resize restores 7×7: the levels meet


@pytest.mark.parametrize("name", ["resize_to_skip", "resize_to_skip_dynamo"])
def test_resize_to_skip_static_export(corpus, name):
    # With a static input both exporters fold skip.shape into constant sizes [7, 7],
    # [14, 14], [28, 28] (checked in onnxruntime): the file runs at 28×28 only.
    a = symcheck.analyze(corpus[name])
    _check_resize_at_28(a)
    assert round_trip_statement(a) == "only H, W = 28"
    assert a.verdict == "asymmetric"


def test_resize_to_skip_shape_subgraph(corpus):
    # Dynamic H, W keep Shape(skip) → Gather → Concat → Resize(sizes): the resize follows
    # the skip at every size, so every H ≥ 8 (a bottleneck of at least 1×1) round-trips.
    a = symcheck.analyze(corpus["resize_to_skip_dynamic"])
    assert a.ladder_text() == ("H → floor(H/2) → floor(H/4) → floor(H/8) ‖ "
                               "floor(H/8) → floor(H/4) → floor(H/2) → H")
    assert pairs(a) == RESIZE_PAIRS
    assert unpaired(a) == RESIZE_UNPAIRED
    # Demanding-user choice: symbolically no rounding is certain, so SC101/SC103 wait
    # for a pinned size; SC104 says which sizes work.
    assert codes(a) == ["SC104", "SC201"]
    assert round_trip_statement(a) == "any H, W ≥ 8"
    b = symcheck.analyze(corpus["resize_to_skip_dynamic"], input_shapes={"input": (1, 1, 28, 28)})
    _check_resize_at_28(b)
    assert round_trip_statement(b) == "any H, W ≥ 8"


# -- 9. dense-bottleneck VAE ---------------------------------------------------------

def test_vae_picks_recon_and_reports_latent(corpus):
    a = symcheck.analyze(corpus["vae"])
    assert a.output_name == "recon"
    assert "recon" in a.choice and "input" in a.choice  # why: recon has the input's shape
    assert a.ladder_text() == "28 → 14 → 7 → · ‖ · → 7 → 14 → 28"
    # flatten + fc_mu is one down transition: the encoder ends at fc_mu, the latent
    assert a.bottleneck.name == "fc_mu"
    assert a.bottleneck_values == 16
    assert a.compression == 49.0
    assert a.structure.side[layer_named(a, "fc_mu").id] == "encoder"
    assert a.structure.side[layer_named(a, "fc_dec").id] == "decoder"
    assert pairs(a) == [("encoder.0", "decoder.3", 0), ("encoder.2", "decoder.1", 2),
                        ("fc_mu", "fc_dec", 3)]
    # Demanding-user choice: fc_logvar is the latent's second head (sampling), not an
    # unpaired layer; and the reparameterization Add is not a skip connection.
    assert unpaired(a) == []
    assert a.structure.skips == []
    assert codes(a) == ["SC104"]
    assert round_trip_statement(a) == "only H, W = 28"  # the dense layer fixes the size
    assert a.verdict == "symmetric with notes"


def test_overcomplete_vae_does_not_compress(corpus):
    a = symcheck.analyze(corpus["vae_overcomplete"])
    assert a.output_name == "recon"
    assert a.ladder_text() == "16 → 8 → 4 → · ‖ · → 4 → 8 → 16"
    assert a.bottleneck.name == "fc_mu"
    assert a.bottleneck_values == 300
    assert round(a.compression, 3) == 0.853  # 256 input values, 300 latent values
    assert codes(a) == ["SC104", "SC303"]
    assert by_code(a, "SC303")[0].layers == ("fc_mu",)
    assert round_trip_statement(a) == "only H, W = 16"


# -- 10. BatchNorm, Dropout and activations are not layers ---------------------------

@pytest.mark.parametrize("name", ["norm_act", "norm_act_dynamo"])
def test_norms_dropout_and_activations_fuse(corpus, name):
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    # BatchNorm (folded by both exporters), Dropout (gone in eval), LeakyReLU, PReLU,
    # GELU (Div/Erf/Add/Mul/Mul at opset 17), SiLU (Sigmoid + Mul): none is a layer
    assert path_names(a) == ["encoder.0", "encoder.3", "encoder.4", "encoder.8",
                             "decoder.0", "decoder.1", "decoder.5", "decoder.6"]
    assert path_kinds(a) == ["conv", "max-pool", "conv", "max-pool",
                             "upsample", "conv", "upsample", "conv"]
    acts = {n: layer_named(a, n).activation for n in ("encoder.0", "encoder.4", "decoder.1", "decoder.6")}
    assert acts == {"encoder.0": "leaky-relu", "encoder.4": "prelu", "decoder.1": "gelu",
                    "decoder.6": "silu"}
    assert pairs(a) == [("encoder.0", "decoder.6", 0), ("encoder.4", "decoder.1", 1)]
    assert unpaired(a) == []
    assert [lv.encoder_width for lv in a.structure.levels[:2]] == [8, 8]
    assert [lv.decoder_width for lv in a.structure.levels[:2]] == [8, 8]
    assert codes(a) == ["SC104"]
    assert a.verdict == "symmetric with notes"


# -- 11. a classifier ----------------------------------------------------------------

def test_classifier_is_not_an_encoder_decoder(corpus):
    from click.testing import CliRunner

    from symcheck.cli import check

    a = symcheck.analyze(corpus["classifier"])
    assert not a.is_encoder_decoder
    assert path_names(a) == ["0", "2", "3", "5", "6", "7"]
    assert path_kinds(a) == ["conv", "max-pool", "conv", "max-pool", "flatten", "dense"]
    assert layer_named(a, "7").activation == "softmax"
    assert codes(a) == ["SC001"]
    assert a.structure.pairs == [] and unpaired(a) == []  # no decoder, nothing to pair
    assert a.verdict == "not an encoder-decoder"
    result = CliRunner().invoke(check, [corpus["classifier"]])
    assert result.exit_code == 0, result.output
    assert "SC001" in result.stdout and result.stderr == ""


# -- 12. symbolic dims ----------------------------------------------------------------

def test_dynamic_unet_symbolic_ladder(corpus):
    a = symcheck.analyze(corpus["unet_dynamic"])
    # PyTorch MaxPool2d(2) floors. On the decoder side the ladder follows the main
    # path (the up-conv's size) through each Concat, not the skip's expression.
    assert a.ladder_text() == (
        "H → floor(H/2) → floor(H/4) → floor(H/8) → floor(H/16) ‖ "
        "floor(H/16) → 2*floor(H/16) → 4*floor(H/16) → 8*floor(H/16) → 16*floor(H/16)")
    assert pairs(a) == UNET_PAIRS
    assert unpaired(a) == UNET_UNPAIRED
    # floor(H/8) and 2*floor(H/16) agree wherever the model runs (H ≡ 0 mod 16, verified
    # in onnxruntime): that is SC104's statement, not a skip mismatch (no SC302), and
    # some sizes round-trip (no SC002).
    assert codes(a) == UNET_CODES
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 16)"
    assert a.verdict == "symmetric with notes"


def test_dynamic_unet_pinned(corpus):
    a = symcheck.analyze(corpus["unet_dynamic"], input_shapes={"input": (1, 1, 64, 64)})
    assert a.ladder_text() == "64 → 32 → 16 → 8 → 4 ‖ 4 → 8 → 16 → 32 → 64"
    assert pairs(a) == UNET_PAIRS
    assert codes(a) == UNET_CODES
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 16)"


# -- 13. widths, kernels, level counts --------------------------------------------------

def test_wide_decoder_width_mismatch(corpus):
    a = symcheck.analyze(corpus["wide_decoder"])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert pairs(a) == [("encoder.0", "decoder.4", 0), ("encoder.3", "decoder.1", 1)]
    assert [lv.encoder_width for lv in a.structure.levels[:2]] == [8, 8]
    assert [lv.decoder_width for lv in a.structure.levels[:2]] == [32, 8]
    assert codes(a) == ["SC104", "SC202"]
    sc202 = by_code(a, "SC202")[0]
    assert sc202.level == 0 and "8" in sc202.message and "32" in sc202.message
    assert a.verdict == "symmetric with notes"  # SC202 is an info


def test_kernel_mismatch(corpus):
    a = symcheck.analyze(corpus["kernel_mismatch"])
    assert a.ladder_text() == "32 → 16 → 8 → 4 ‖ 4 → 8 → 16 → 32"
    assert pairs(a) == [("encoder.0", "decoder.7", 0), ("encoder.3", "decoder.4", 1),
                        ("encoder.6", "decoder.1", 2)]
    assert codes(a) == ["SC104", "SC203", "SC203"]  # stem and head are both 3×3
    sc203 = by_code(a, "SC203")
    assert sorted(f.layers for f in sc203) == [("encoder.3", "decoder.4"), ("encoder.6", "decoder.1")]
    assert all("3×3" in f.message and "5×5" in f.message for f in sc203)
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 8)"


def test_extra_up_stage(corpus):
    a = symcheck.analyze(corpus["extra_up"])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32 → 64"
    assert len(a.structure.downs) == 2 and len(a.structure.ups) == 3
    assert pairs(a) == [("encoder.0", "decoder.7", 0), ("encoder.3", "decoder.1", 1)]
    assert unpaired(a) == ["decoder.4"]  # the conv of the extra stage
    # Demanding-user choice: no SC104 "no size round-trips" next to SC003, which
    # already says no size can (one fact, one finding).
    assert codes(a) == ["SC002", "SC003", "SC201"]
    assert "64×64" in by_code(a, "SC002")[0].message
    assert a.verdict == "asymmetric"


# -- 14. several inputs -----------------------------------------------------------------

def test_two_inputs_analyses_the_image(corpus):
    a = symcheck.analyze(corpus["two_inputs"])
    assert a.input_name == "image"  # the second input: the first one, cond, is a vector
    assert "image" in a.choice and "spatial" in a.choice
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert pairs(a) == [("encoder.0", "decoder.4", 0), ("encoder.3", "decoder.1", 1)]
    assert unpaired(a) == []  # film reads the other input: not on the analysed path
    assert a.structure.skips == []  # the Add joins the conditioning, not an encoder tensor
    assert codes(a) == ["SC104"]
    assert a.verdict == "symmetric with notes"


# -- 15. broadcast merges: squeeze-and-excitation gates ---------------------------------

def _verified(a):
    """Verify ``a`` in onnxruntime and attach the result (SC901 per disagreement)."""
    from symcheck.verify import verify_and_attach

    v = verify_and_attach(a)
    assert v.status == "verified", (v.reason, [c for c in v.layers if not c.ok])
    assert all(c.ok for c in v.layers)
    assert all(rt.held for rt in v.round_trips)
    assert "SC901" not in codes(a)
    return v


# two floor-halving steps and two doublings, with symbolic H, W
QUARTER_LADDER = "H → floor(H/2) → floor(H/4) ‖ floor(H/4) → 2*floor(H/4) → 4*floor(H/4)"


def _matmuls(a) -> list:
    return [layer for layer in a.layers.layers.values() if layer.kind == "matmul"]


def _check_se(a):
    # Each gate (global pool → 1×1 conv → ReLU → 1×1 conv → sigmoid) is N×C×1×1 and the
    # Mul stretches it over H×W (ONNX broadcasting): the Mul has the map's size, and the
    # main path runs through the map, not down the gate to 1×1 and back.
    se1, se2 = layer_named(a, "se1"), layer_named(a, "se2")
    assert se1.kind == se2.kind == "mul"
    assert [a.layer(i).name for i in se1.broadcast] == ["se1.gate.3"]
    assert [a.layer(i).name for i in se2.broadcast] == ["se2.gate.3"]
    assert path_names(a) == ["down1", "se1", "down2", "se2", "up2", "up1"]
    assert [s.role for s in a.structure.steps] == ["down", "keep", "down", "keep", "up", "up"]
    # strided conv k4 s2 ↔ transposed conv k4 s2 at each level: a mirror
    assert pairs(a) == [("down1", "up1", 0), ("down2", "up2", 2)]
    assert unpaired(a) == []  # the gates' 1×1 convs are a side branch, off the main path
    assert skips(a) == []  # a gate is no skip connection
    assert codes(a) == ["SC104"]  # no SC003: two down transitions, two up
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.verdict == "symmetric with notes"


@pytest.mark.parametrize("name", ["se", "se_dynamo"])
def test_se_gate_broadcasts_over_the_map(corpus, name):
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert layer_named(a, "se1").out_shape == (1, 4, 16, 16)
    assert layer_named(a, "se2").out_shape == (1, 8, 8, 8)
    assert layer_named(a, "se1.gate.3").out_shape == (1, 4, 1, 1)
    _check_se(a)
    _verified(a)
    assert a.verdict == "symmetric with notes"


def test_se_gate_broadcasts_over_symbolic_sizes(corpus):
    from symcheck.dims import Expr

    a = symcheck.analyze(corpus["se_dynamic"])
    assert a.ladder_text() == QUARTER_LADDER
    height, width = Expr.symbol("height"), Expr.symbol("width")
    assert layer_named(a, "se1").out_shape[1:] == (4, height // 2, width // 2)
    assert layer_named(a, "se2").out_shape[1:] == (8, height // 4, width // 4)
    _check_se(a)
    v = _verified(a)  # at 32 (round-trips) and 30 (gives 28), the gate stretched at both
    assert [(rt.size, rt.held) for rt in v.round_trips] == [(32, True), (30, True)]
    assert a.verdict == "symmetric with notes"


@pytest.mark.parametrize("name", ["broadcast", "broadcast_dynamo"])
def test_every_elementwise_merge_broadcasts(corpus, name):
    # Mul (gate first), Sub, Max at 16×16; Div, Where (broadcast condition), Add (bias
    # first) at 8×8: each has the map's shape, whichever input order, and stretches
    # exactly one N×C×1×1 input
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    merges = ["mul", "sub", "max", "div", "where", "add"]
    assert path_kinds(a) == (["conv"] + merges[:3] + ["conv"] + merges[3:]
                             + ["conv-transpose", "conv-transpose"])
    path = [a.layer(i) for i in a.structure.path[1:-1]]
    for layer in path:
        if layer.kind in merges:
            size = 16 if layer.kind in merges[:3] else 8
            channels = 4 if size == 16 else 8
            assert layer.out_shape == (1, channels, size, size), layer.name
            assert layer.in_shape == layer.out_shape, layer.name
            assert [spatial_of(a.layer(i)) for i in layer.broadcast] == [(1, 1)], layer.name
            assert spatial_in(a.layers.layers, layer) == (size, size), layer.name
    assert [s.role for s in a.structure.steps] == (["down", "keep", "keep", "keep", "down"]
                                                  + ["keep"] * 3 + ["up", "up"])
    assert pairs(a) == [("down1", "up1", 0), ("down2", "up2", 2)]
    assert unpaired(a) == [] and skips(a) == []
    assert codes(a) == ["SC104"]
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    _verified(a)
    assert a.verdict == "symmetric with notes"


# -- 16. self-attention: products of two transposed views ------------------------------

def _check_attention(a):
    # q, k, v come from one 1×1 conv, reshape(b, 3, c, h*w) and unbind; q·kᵀ and a·v are
    # products of two data tensors whose axes are no image's: the ladder passes through
    # the block at the 8×8 bottleneck without a step, and the reshape back to (b, c, h, w)
    # is the image again.
    matmuls = _matmuls(a)
    assert len(matmuls) == 2
    assert all(m.untracked and m.transfer == [] and spatial_of(m) is None for m in matmuls)
    assert all(len(m.inputs) == 2 and m.params == 0 for m in matmuls)
    regroup = layer_named(a, "attn")  # (1, 24, 8, 8) -> (1, 3, 8, 64): no pixel shuffle
    assert regroup.kind == "reshape" and regroup.untracked
    assert [s.role for s in a.structure.steps] == (["keep", "down", "keep", "down"] + ["keep"] * 7
                                                  + ["up", "keep", "up", "keep"])
    assert pairs(a) == [("encoder.0", "decoder.4", 0), ("encoder.3", "decoder.1", 1)]
    # the block's learned layers are the decoder's extra layers at the bottleneck
    assert unpaired(a) == ["attn.qkv", "attn.proj"]
    assert codes(a) == ["SC104", "SC201"]
    assert by_code(a, "SC201")[0].layers == ("attn.qkv", "attn.proj")
    assert a.verdict == "symmetric with notes"


@pytest.mark.parametrize("name", ["attention", "attention_dynamo"])
def test_attention_block_at_the_bottleneck(corpus, name):
    # TorchScript writes unbind as Split, dynamo as Slice + Squeeze per part (the views
    # (0, 3, 2) and (0, 2, 3) of one 4-D layer that dynamo's export crashed on)
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    parts = [layer for layer in a.layers.layers.values()
             if layer.kind == ("split" if name == "attention" else "crop")]
    assert [p.out_shape for p in parts] == [(1, 1, 8, 64)] * 3 and all(p.untracked for p in parts)
    matmuls = _matmuls(a)
    assert [m.out_shape for m in matmuls] == [(1, 64, 64), (1, 8, 64)]  # q·kᵀ, then a·v
    _check_attention(a)
    # the static file reshapes to constant sizes: it runs at 32×32 only
    assert round_trip_statement(a) == "only H, W = 32"
    _verified(a)
    assert a.verdict == "symmetric with notes"


def test_attention_block_with_symbolic_sizes(corpus):
    from symcheck.dims import Expr

    a = symcheck.analyze(corpus["attention_dynamic"])
    assert a.ladder_text() == QUARTER_LADDER
    hw = (Expr.symbol("height") // 4) * (Expr.symbol("width") // 4)
    matmuls = _matmuls(a)
    assert [m.out_shape[1:] for m in matmuls] == [(hw, hw), (8, hw)]
    _check_attention(a)
    back = layer_named(a, "attn#7")  # (b, c, h*w) -> (b, c, h, w): the sizes of attn.qkv's map
    qkv = layer_named(a, "attn.qkv")
    assert back.kind == "reshape" and not back.untracked
    assert back.transfer == [("match", qkv.id, 0), ("match", qkv.id, 1)]
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    v = _verified(a)
    assert [(rt.size, rt.held) for rt in v.round_trips] == [(32, True), (30, True)]
    assert a.verdict == "symmetric with notes"


def _transposed_views_ae(use: str):
    """conv ↓4, a 1×1 conv to q and k, reshape (1, 2, 8, 64), Slice + Squeeze each, then
    ``use`` of qᵀ (a (0, 3, 2) view of the reshape) and kᵀ or k: a MatMul (attention), an
    Add, a Slice, or qᵀ as a graph output; k reshaped back to 8×8 is added to the map
    before a transposed conv ↑4."""
    import numpy as np
    from onnx import TensorProto, helper as h, numpy_helper

    rng = np.random.default_rng(0)

    def weight(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)

    def ints(name, values):
        return numpy_helper.from_array(np.array(values, dtype=np.int64), name)

    nodes = [
        h.make_node("Conv", ["x", "wd"], ["h"], "down", kernel_shape=[4, 4], strides=[4, 4]),
        h.make_node("Conv", ["h", "wqk"], ["qk"], "qk", kernel_shape=[1, 1]),
        h.make_node("Reshape", ["qk", "parts"], ["r"], "split"),
        h.make_node("Slice", ["r", "zero", "one", "one"], ["q4"], "q"),
        h.make_node("Slice", ["r", "one", "two", "one"], ["k4"], "k"),
        h.make_node("Squeeze", ["q4", "one"], ["q"], "q_squeeze"),
        h.make_node("Squeeze", ["k4", "one"], ["k"], "k_squeeze"),
        h.make_node("Transpose", ["q"], ["qt"], "q_t", perm=[0, 2, 1]),
        h.make_node("Transpose", ["k"], ["kt"], "k_t", perm=[0, 2, 1])]
    side = {"matmul": [h.make_node("MatMul", ["qt", "k"], ["scores"], "scores"),
                       h.make_node("Softmax", ["scores"], ["attn"], "softmax", axis=-1),
                       h.make_node("MatMul", ["k", "attn"], ["o"], "attend")],
            "add": [h.make_node("Add", ["qt", "kt"], ["side"], "use")],
            "crop": [h.make_node("Slice", ["qt", "zero", "half", "one"], ["side"], "use")],
            "output": []}[use]
    back = "o" if use == "matmul" else "k"
    nodes += side + [
        h.make_node("Reshape", [back, "image"], ["o4"], "back"),
        h.make_node("Add", ["h", "o4"], ["res"], "residual"),
        h.make_node("ConvTranspose", ["res", "wu"], ["y"], "up", kernel_shape=[4, 4], strides=[4, 4])]
    f = TensorProto.FLOAT
    outputs = [h.make_tensor_value_info("y", f, [1, 1, 32, 32])]
    if use in ("add", "crop"):
        outputs.append(h.make_tensor_value_info("side", f, [1, 64 if use == "add" else 32, 8]))
    if use == "output":
        outputs.append(h.make_tensor_value_info("qt", f, [1, 64, 8]))
    inits = [weight("wd", (8, 1, 4, 4)), weight("wqk", (16, 8, 1, 1)), weight("wu", (8, 1, 4, 4)),
             ints("parts", [1, 2, 8, 64]), ints("image", [1, 8, 8, 8]), ints("zero", [0]),
             ints("one", [1]), ints("two", [2]), ints("half", [32])]
    graph = h.make_graph(nodes, "transposed_views", [h.make_tensor_value_info("x", f, [1, 1, 32, 32])],
                         outputs, inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


@pytest.mark.parametrize("use", ["matmul", "add", "crop", "output"])
def test_transposed_views_of_one_layer_have_no_image_axes(use):
    # Every op that reads qᵀ, whose axes map to the reshape's canonical axes 0, 3, 2 (no
    # permutation of 0, 1, 2), keeps its tensor's own shape and no image axes.
    a = symcheck.analyze(_transposed_views_ae(use))
    assert a.ladder_text() == "32 → 8 ‖ 8 → 32"
    middle = ["attend"] if use == "matmul" else []
    assert path_names(a) == ["down", "qk", "split", "k"] + middle + ["back", "residual", "up"]
    readers = {"matmul": ("scores", (1, 64, 64)), "add": ("use", (1, 64, 8)),
               "crop": ("use", (1, 32, 8)), "output": ("qt", (1, 64, 8))}
    name, shape = readers[use]
    reader = layer_named(a, name)
    assert reader.out_shape == shape and reader.out_axes == (0, 1, 2)
    assert reader.untracked and spatial_of(reader) is None
    assert pairs(a) == [("down", "up", 0)]
    assert unpaired(a) == ["qk"]
    assert codes(a) == ["SC104", "SC201"]
    assert round_trip_statement(a) == "only H, W = 32"
    _verified(a)
    assert a.verdict == "symmetric with notes"


# -- Keras exports (tf2onnx, NHWC / NWC) ---------------------------------------------------

def test_keras_unet(corpus):
    a = symcheck.analyze(corpus["keras_unet.onnx"])
    assert a.exporter.family == "keras" and a.layout == "NHWC"
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert path_names(a) == ["e1", "p1", "e2", "p2", "mid", "up2", "cat2", "d2", "up1", "cat1",
                             "d1", "head"]
    assert pairs(a) == [("e1", "head", 0), ("e1", "d1", 0), ("e2", "up1", 1), ("e2", "d2", 1)]
    assert unpaired(a) == ["mid", "up2"]  # d2, d1 read the Concatenate skips: "skip" pairs
    assert [(a.layer(m).name, a.layer(s).name) for m, s in a.structure.skips] == [
        ("cat2", "e2"), ("cat1", "e1")]
    assert codes(a) == ["SC104", "SC201", "SC204", "SC301", "SC301"]
    assert [f.layers for f in by_code(a, "SC301")] == [("up2",), ("up1",)]
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.verdict == "asymmetric"


def test_keras_conv1d(corpus):
    a = symcheck.analyze(corpus["keras_conv1d.onnx"])
    assert a.exporter.family == "keras"
    assert a.to_user_layout(a.input_layer.out_shape)[1:] == (100, 1)
    assert a.ladder_text() == "100 → 50 → 25 → 13 ‖ 13 → 26 → 52 → 104 → 100"
    assert path_names(a) == ["c1", "p1", "c2", "p2", "c3", "p3", "u3", "c4", "u2", "c5", "u1",
                             "crop", "head"]
    assert [a.layer(i).kind for i in a.structure.path[1:-1]].count("upsample") == 3
    assert pairs(a) == [("c1", "head", 0), ("c2", "c5", 1), ("c3", "c4", 2)]
    assert unpaired(a) == []
    assert codes(a) == ["SC101", "SC102", "SC102", "SC102", "SC103", "SC104"]
    assert by_code(a, "SC101")[0].layers == ("p3",)
    assert sorted(f.level for f in by_code(a, "SC102")) == [0, 1, 2]
    sc103 = by_code(a, "SC103")[0]
    assert sc103.layers[0] == "crop" and "104" in sc103.message and "p3" in sc103.message
    assert round_trip_statement(a) == "L ≡ 4 (mod 8)"
    assert a.verdict == "asymmetric"


def test_keras_dense_bottleneck(corpus):
    a = symcheck.analyze(corpus["keras_dense.onnx"])
    assert a.ladder_text() == "16 → 8 → 4 → · ‖ · → 4 → 8 → 16"
    assert path_names(a) == ["e1", "e2", "flat", "code", "expand", "unflat", "d2", "d1"]
    assert a.bottleneck.name == "code" and a.bottleneck_values == 16
    assert a.compression == 16.0
    assert pairs(a) == [("e1", "d1", 0), ("e2", "d2", 2), ("code", "expand", 3)]
    assert unpaired(a) == []
    assert codes(a) == ["SC104"]
    assert round_trip_statement(a) == "only H, W = 16"
    assert a.verdict == "symmetric with notes"


# -- every corpus model's inferred shapes hold in onnxruntime -------------------------

@pytest.mark.parametrize("name", sorted(MODELS) + list(KERAS_MODELS))
def test_corpus_verifies_in_onnxruntime(corpus, name):
    from symcheck.verify import verify

    a = symcheck.analyze(corpus[name])
    v = verify(a)
    assert v.status == "verified", (v.reason, [c for c in v.layers if not c.ok])
    assert all(c.ok for c in v.layers) and len(v.layers) >= 6
    assert all(rt.held for rt in v.round_trips)
