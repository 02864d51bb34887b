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

import json

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
    # 248 pools to 124, 62, 31 and 15; 15 comes back as 30, which meets the skip's 31
    assert by_code(a, "SC104")[0].message.endswith(
        "256 works, 248 cannot run (sizes 31 and 30 meet at "
        f"{'cat' if name == 'unet_dynamo' else 'Concat'})")
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


# -- 3b. U-Net++ and Attention U-Net: skips traced by resolution ----------------------

def json_pairs(a) -> list:
    from symcheck.render.json import analysis_dict

    return [(p["encoder"], p["decoder"], p["level"]) for p in analysis_dict(a)["pairs"]]


def check_pairs_at_one_resolution(a):
    """Every pair but stem-head joins an encoder layer's output and a decoder layer's
    input of the same size; a decoder layer has one partner, an encoder layer at most
    one channel-map partner and one skip partner."""
    from symcheck.structure import spatial_of

    for p in a.structure.pairs:
        if p.how == "stem-head":
            continue
        decoder = a.layer(p.decoder)
        assert spatial_of(a.layer(p.encoder)) == spatial_of(a.layer(decoder.inputs[0])), p
    decoders = [p.decoder for p in a.structure.pairs]
    assert len(decoders) == len(set(decoders))
    for how in ("skip", "other"):
        encoders = [p.encoder for p in a.structure.pairs
                    if p.how != "stem-head" and (p.how == "skip") == (how == "skip")]
        assert len(encoders) == len(set(encoders)), how


def check_skips_join_equal_sizes(a):
    from symcheck.structure import spatial_of

    for merge, _ in a.structure.skips:
        sizes = {spatial_of(a.layer(i)) for i in a.layer(merge).inputs}
        assert sizes == {spatial_of(a.layer(merge))}


UNET_PP_PAIRS = [
    ("conv0_0.0", "final", 0), ("conv0_0.2", "conv0_3.2", 0), ("conv0_0.2", "conv0_3.0", 0),
    ("conv1_0.2", "conv1_2.2", 1), ("conv1_0.2", "conv1_2.0", 1),
    ("conv2_0.2", "conv2_1.2", 2), ("conv2_0.2", "conv2_1.0", 2),
]
# The main path runs X^{0,0} → X^{3,0} → X^{2,1} → X^{1,2} → X^{0,3}; the nested nodes
# X^{0,1}, X^{1,1}, X^{0,2} are off it. Each Concat on the path joins X^{i,0} with the
# nested nodes of row i (all at X^{i,0}'s size) and the upsampled decoder: one skip per
# level, traced back to X^{i,0} without crossing the nested nodes' upsamples.


def test_unet_pp_nested_skips_join_equal_sizes(corpus):
    a = symcheck.analyze(corpus["unet_pp"])
    assert a.ladder_text() == "64 → 32 → 16 → 8 ‖ 8 → 16 → 32 → 64"
    assert path_kinds(a) == (["conv", "conv", "max-pool"] * 3 + ["conv", "conv"]
                             + ["upsample", "concat", "conv", "conv"] * 3 + ["conv"])
    assert [n for n in path_names(a) if n.startswith("conv")] == [
        "conv0_0.0", "conv0_0.2", "conv1_0.0", "conv1_0.2", "conv2_0.0", "conv2_0.2",
        "conv3_0.0", "conv3_0.2", "conv2_1.0", "conv2_1.2", "conv1_2.0", "conv1_2.2",
        "conv0_3.0", "conv0_3.2"]
    assert skips(a) == [("concat", "conv2_0.2", 2), ("concat", "conv1_0.2", 1),
                        ("concat", "conv0_0.2", 0)]
    check_skips_join_equal_sizes(a)
    assert pairs(a) == UNET_PP_PAIRS
    assert json_pairs(a) == UNET_PP_PAIRS
    check_pairs_at_one_resolution(a)
    assert unpaired(a) == ["conv1_0.0", "conv2_0.0", "conv3_0.0", "conv3_0.2"]
    # every Concat joins equal sizes: no SC302; X^{1,0}, X^{2,0}'s first convs (c→2c)
    # and the bottleneck X^{3,0} have no partner
    assert codes(a) == ["SC104", "SC201", "SC201", "SC201"]
    # the nested nodes upsample the row below: decoders of their own
    for name in ("conv0_1.0", "conv1_1.2", "conv0_2.2"):
        assert a.structure.side[layer_named(a, name).id] == "decoder"
    # encoder: 3×3 convs 1→4, 4→4, 4→8, 8→8, 8→16, 16→16 with biases
    assert a.side_params("encoder") == 40 + 148 + 296 + 584 + 1168 + 2320
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 8)"
    assert a.verdict == "symmetric with notes"


ATT_UNET_PAIRS = [
    ("enc1.0", "head", 0), ("enc1.2", "dec1.2", 0), ("enc1.2", "dec1.0", 0),
    ("enc2.2", "dec2.2", 1), ("enc2.2", "dec2.0", 1), ("enc3.2", "dec3.2", 2), ("enc3.2", "dec3.0", 2),
]
# The gates (wg, wx 1×1 → add → relu → psi 1×1 to one channel → sigmoid → × skip) only
# modulate the skip: the main path goes from up k straight to the Concat, and the gate
# convs are not decoder stages to pair. up k.1 (2c→c after the upsample) halves the
# width at a level where the encoder doubles it (enc k.0, c/2→c): no inverse, no pair.
ATT_UNET_UNPAIRED = ["enc2.0", "enc3.0", "bottleneck.0", "bottleneck.2", "up3.1", "up2.1", "up1.1"]


@pytest.mark.parametrize("name", ["attention_unet", "attention_unet_dynamo"])
def test_attention_unet_gates_are_side_branches(corpus, name):
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "64 → 32 → 16 → 8 ‖ 8 → 16 → 32 → 64"
    assert path_kinds(a) == (["conv", "conv", "max-pool"] * 3 + ["conv", "conv"]
                             + ["upsample", "conv", "concat", "conv", "conv"] * 3 + ["conv"])
    gate_layers = [layer for layer in a.layers.layers.values()
                   if layer.name.startswith("att")]
    assert len(gate_layers) == 3 * 5  # wg, wx, add, psi, mul per gate
    for layer in gate_layers:
        assert layer.id not in a.structure.on_path, layer.name
        assert a.structure.side[layer.id] == "decoder", layer.name
    assert skips(a) == [("concat", "enc3.2", 2), ("concat", "enc2.2", 1), ("concat", "enc1.2", 0)]
    check_skips_join_equal_sizes(a)
    assert pairs(a) == ATT_UNET_PAIRS
    assert json_pairs(a) == ATT_UNET_PAIRS
    check_pairs_at_one_resolution(a)
    assert unpaired(a) == ATT_UNET_UNPAIRED
    assert codes(a) == ["SC104"] + ["SC201"] * 6  # no SC203 for the gates' 1×1 convs
    assert a.side_params("encoder") == 40 + 148 + 296 + 584 + 1168 + 2320
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 8)"
    assert a.verdict == "symmetric with notes"


# -- 3c. ASPP: an image-level (global pool) branch and one ×8 resize -------------------

def test_aspp_global_pool_branch_is_no_bottleneck(corpus):
    a = symcheck.analyze(corpus["aspp"])
    # the global pool branch comes back to 8×8 and joins the atrous branches: a side
    # branch, so the bottleneck is the 8×8 feature map, not the pooled 1×1 vector
    assert a.ladder_text() == "64 → 32 → 16 → 8 ‖ 8 → 64"
    assert a.bottleneck.name == "backbone.2.0"
    assert path_kinds(a) == ["conv"] * 5 + ["concat", "conv", "conv", "upsample"]
    names = path_names(a)
    assert names[:5] + names[6:8] == ["backbone.0.0", "backbone.1.0", "backbone.2.0", "backbone.3.0",
                                      "b0.0", "project.0", "cls"]
    pooled = [layer for layer in a.layers.layers.values() if layer.kind == "global-pool"]
    assert len(pooled) == 1 and pooled[0].id not in a.structure.on_path
    # the ×8 resize returns from level 3 to level 0 in one step: the three levels are
    # undone (no SC003), the decoder meets the encoder at 64×64 (no SC102), and the
    # missing intermediate stages are SC204's finding
    resize = a.structure.path[-2]
    assert a.structure.level_of[resize] == (3, 0)
    assert [lv.up for lv in a.structure.levels[:3]] == [resize, None, None]
    assert a.structure.levels[0].decoder_size == (64, 64)
    assert a.structure.skips == []  # the Concat joins bottleneck tensors, no encoder skip
    # stem ↔ head; b0.0 (32→16 reading level 3) inverts backbone.2.0 (16→32 writing it)
    assert pairs(a) == [("backbone.0.0", "cls", 0), ("backbone.2.0", "b0.0", 3)]
    assert json_pairs(a) == [("backbone.0.0", "cls", 0), ("backbone.2.0", "b0.0", 3)]
    assert unpaired(a) == ["backbone.1.0", "backbone.3.0", "project.0"]
    assert codes(a) == ["SC104", "SC201", "SC201", "SC203", "SC204"]
    sc204 = by_code(a, "SC204")[0]
    assert "level 3 to level 0" in sc204.message and "×8" in sc204.message
    assert sc204.layers[1:] == ("backbone.0.0", "backbone.1.0", "backbone.2.0")
    assert round_trip_statement(a) == "only H, W = 64"  # both resizes are to fixed sizes
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
    # onnxruntime's SpaceToDepth refuses a size that is not a multiple of its block
    assert a.round_trips[0].examples[30] == "invalid"
    assert a.findings[0].message.endswith("32 works, 30 cannot run (encoder.5, a space-to-depth by 2, "
                                          "gets 15)")
    assert a.verdict == "symmetric with notes"


def test_pixel_unshuffle_with_dynamic_sizes(corpus):
    # With dynamic H, W TorchScript writes PixelUnshuffle as Unsqueeze, Reshape (N, C, -1, 2, W),
    # Reshape (..., -1, 2), Transpose, Reshape, Squeeze: the -1 of 4*H*W*N over 8*W*N is H/2
    # (a multiple of 2 or the reshape fails), not a fresh symbol.
    a = symcheck.analyze(corpus["pixel_shuffle_dynamic"])
    assert a.ladder_text() == "H → floor(H/2) → floor(H/4) ‖ floor(H/4) → 2*floor(H/4) → 4*floor(H/4)"
    assert path_kinds(a) == ["conv", "space-to-depth", "conv", "space-to-depth",
                             "conv", "pixel-shuffle", "conv", "pixel-shuffle", "conv"]
    assert pairs(a) == [("encoder.0", "decoder.6", 0), ("encoder.3", "decoder.3", 1)]
    assert codes(a) == ["SC104", "SC201"]
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.round_trips[0].examples[28] == 28
    assert a.round_trips[0].examples[30] == a.round_trips[0].examples[29] == "invalid"
    assert a.verdict == "symmetric with notes"
    v = _verified(a)
    assert [(r.size, r.predicted, r.held) for r in v.round_trips] == [
        (32, (32, 32), True), (30, ("invalid", "invalid"), True)]  # 30 fails in onnxruntime, as predicted


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
def test_a_layer_paired_only_by_its_skip_is_not_unpaired(corpus):
    """enc2 (8→16) has no channel-map partner; dec2 (32→16) reads its skip Concat and
    pairs with it. enc2 then has its counterpart: no "no decoder counterpart" SC201."""
    a = symcheck.analyze(corpus["widening_unet"])
    assert a.ladder_text() == "64 → 32 → 16 ‖ 16 → 32 → 64"
    assert [(a.layer(p.encoder).name, a.layer(p.decoder).name, p.level, p.how) for p in a.structure.pairs] \
        == [("enc1.0", "head", 0, "stem-head"), ("enc1.0", "dec1.0", 0, "skip"), ("enc2.0", "dec2.0", 1, "skip")]
    assert unpaired(a) == ["mid.0", "up2"]
    assert [f.layers for f in by_code(a, "SC201")] == [("mid.0", "up2")]
    assert codes(a) == ["SC104", "SC201", "SC204"]
    assert a.verdict == "symmetric with notes"


@pytest.mark.parametrize("name", ["crop", "crop_dynamo"])
def test_a_crop_on_two_axes_is_one_crop(corpus, name):
    """``y[:, :, 1:-1, 1:-1]``: a Slice per axis in both exporters, one crop 32×32 → 30×30
    and one SC103 (it used to be two crops, each with its own SC103)."""
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "30 → 15 → 8 ‖ 8 → 16 → 32 → 30"
    crops = [layer for layer in a.layers.layers.values() if layer.kind == "crop"]
    assert [(c.in_shape, c.out_shape, len(c.nodes)) for c in crops] == [((1, 4, 32, 32), (1, 4, 30, 30), 3)]  # 2 Slices, ReLU
    x = crops[0].transfer[0].symbol("x")
    assert crops[0].transfer == [x - 2, x - 2]
    assert [f.message.split(",")[0] for f in by_code(a, "SC103")] == [f"{crops[0].name} crops 32×32 to 30×30"]
    assert codes(a) == ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201", "SC203", "SC303"]
    _verified(a)


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


def test_a_conv_vae_bottleneck_is_its_latent_map(corpus):
    """The encoder ends at 64×4×4 (1,024 values for 1,024 inputs), but the decoder reads
    the sample of mu (8×4×4): the bottleneck shown and counted is the narrowest map at
    the deepest level, 128 values, 8× compression, and no SC303."""
    a = symcheck.analyze(corpus["conv_vae"])
    assert (a.input_name, a.output_name) == ("x", "recon")
    assert a.ladder_text() == "32 → 16 → 8 → 4 ‖ 4 → 8 → 16 → 32"
    assert a.bottleneck.name == "enc.4" and a.bottleneck.out_shape == (1, 64, 4, 4)
    assert a.code.name == "mu" and a.code.out_shape == (1, 8, 4, 4)
    assert a.bottleneck_values == 128 and a.compression == 8.0
    assert "SC303" not in codes(a)
    # the strided convs and transposed convs pair across the same two levels, although the
    # decoder's widths are shifted by the 8→64 at the bottleneck (SC202 at levels 1 and 2);
    # mu is the extra learned layer at the bottleneck, dec.4 (32→16) the other extra one
    assert pairs(a) == [("enc.0", "dec.6", 0), ("enc.2", "dec.2", 2), ("enc.4", "dec.0", 3)]
    assert [p.how for p in a.structure.pairs] == ["stem-head", "transition", "transition"]
    assert unpaired(a) == ["mu", "dec.4"]
    assert codes(a) == ["SC104", "SC201", "SC201", "SC202", "SC202", "SC203", "SC203"]
    from symcheck.render import json as json_render, text

    assert "bottleneck 8×4×4 = 128 values (8.0× compression)" in text.render(a)
    doc = json.loads(json_render.render(a))
    assert doc["bottleneck"] == {"layer": "enc.4", "shape": [1, 8, 4, 4], "values": 128, "compression": 8.0}


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


# -- 15. explicit padding: F.pad, ZeroPad2d, ReflectionPad2d, odd sizes --------------------
# TorchScript writes every F.pad / ZeroPad2d / ReflectionPad2d as a Pad whose pads come from
# ConstantOfShape -> Concat -> Reshape [-1, 2] -> Slice (step -1) -> Transpose -> Reshape ->
# Cast; dynamo writes a constant. Both must give the same analysis.

PAD_UNET_PAIRS = [
    ("inc.0", "outc", 0), ("inc.2", "up3.conv.2", 0), ("inc.2", "up3.conv.0", 0),
    ("down1.1.0", "up3.up", 1), ("down1.1.2", "up2.conv.2", 1), ("down1.1.2", "up2.conv.0", 1),
    ("down2.1.0", "up2.up", 2), ("down2.1.2", "up1.conv.2", 2), ("down2.1.2", "up1.conv.0", 2),
]
# as in the U-Net above: the double conv after the last pool and the up-conv reading it
# have no encoder layer writing at level 3
PAD_UNET_UNPAIRED = ["down3.1.0", "down3.1.2", "up1.up"]


def _check_pad_unet_at_28(a, pads):
    # 28 → 14 → 7 → 3 (the third pool floors 7), up-conv 3 → 6, F.pad 6 → 7 (diff 1: pads
    # [0, 1]), then 7 → 14 → 28 where the size differences are 0
    assert a.exporter.family == "pytorch"
    assert a.ladder_text() == "28 → 14 → 7 → 3 ‖ 3 → 6 → 7 → 14 → 28"
    assert [lv.encoder_size for lv in a.structure.levels] == [(28, 28), (14, 14), (7, 7), (3, 3)]
    assert [lv.decoder_size for lv in a.structure.levels] == [(28, 28), (14, 14), (6, 6), (3, 3)]
    assert [n for n, kind in zip(path_names(a), path_kinds(a)) if kind == "pad"] == pads
    assert layer_named(a, "up1").out_shape == (1, 16, 7, 7)
    assert pairs(a) == PAD_UNET_PAIRS
    assert unpaired(a) == PAD_UNET_UNPAIRED
    assert [(src, lv) for _, src, lv in skips(a)] == [("down2.1.2", 2), ("down1.1.2", 1), ("inc.2", 0)]
    assert not by_code(a, "SC302")  # the pad makes every skip meet its decoder map
    assert codes(a) == ["SC101", "SC102", "SC103", "SC104", "SC201", "SC204"]
    assert [(f.layers, f.message) for f in by_code(a, "SC101")] == [
        (("down3.0",), "down3.0 maps 7×7 to 3×3: rounds down")]
    assert by_code(a, "SC102")[0].level == 2 and "6×6" in by_code(a, "SC102")[0].message
    sc103 = by_code(a, "SC103")[0]
    assert sc103.layers == ("up1", "down3.0")
    assert sc103.message.startswith("up1 pads 6×6 to 7×7") and sc103.message.endswith("down3.0")
    assert a.verdict == "asymmetric"


@pytest.mark.parametrize("name", ["pad_unet", "pad_unet_dynamo"])
def test_pad_unet_pads_the_upsampled_map_to_the_skip(corpus, name):
    a = symcheck.analyze(corpus[name])
    # only the first Up block pads at 28; a static export bakes the pads in
    _check_pad_unet_at_28(a, ["up1"])
    # 20 → 10 → 5 → 2 → 4 + 1 = 5 ✓; 32 → 16 → 8 → 4 → 8 + 1 = 9 meets a skip of 8 ✗
    assert round_trip_statement(a) == "H, W ≡ 4 (mod 8), H, W ≥ 12"


def test_pad_unet_dynamic_pads_follow_the_skips(corpus):
    # dynamic H, W keep pads computed from Shape(skip) - Shape(up-conv output): every pad
    # brings the decoder back to the skip's size, so every H ≥ 8 round-trips
    a = symcheck.analyze(corpus["pad_unet_dynamic"])
    assert a.ladder_text() == (
        "H → floor(H/2) → floor(H/4) → floor(H/8) ‖ floor(H/8) → 2*floor(H/8) → floor(H/4) → "
        "2*floor(H/4) → floor(H/2) → 2*floor(H/2) → H")
    assert a.output_layer.out_shape[2:] == a.input_layer.out_shape[2:]
    assert pairs(a) == PAD_UNET_PAIRS
    assert unpaired(a) == PAD_UNET_UNPAIRED
    assert codes(a) == ["SC104", "SC201", "SC204"]
    assert round_trip_statement(a) == "any H, W ≥ 8"
    assert a.verdict == "symmetric with notes"
    # pinned at 28 the pads of up2 and up3 are zero, but they are computed: still layers
    b = symcheck.analyze(corpus["pad_unet_dynamic"], input_shapes={"input": (1, 1, 28, 28)})
    _check_pad_unet_at_28(b, ["up1", "up2", "up3"])
    assert round_trip_statement(b) == "any H, W ≥ 8"


def test_zero_pad_before_strided_valid_convs(corpus):
    a = symcheck.analyze(corpus["zero_pad"])
    assert a.exporter.family == "pytorch"
    # 32 + 1 = 33 → (33 - 3) // 2 + 1 = 16; 17 → 8; ConvTranspose k2 s2: 16, 32
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert path_names(a) == ["0", "2", "5", "7", "9", "11"]  # each ZeroPad2d is its conv's padding
    assert [layer_named(a, n).attrs["pads"] for n in ("2", "5")] == [[0, 0, 1, 1]] * 2
    assert pairs(a) == [("0", "11", 0), ("2", "9", 1), ("5", "7", 2)]  # as STRIDED_PAIRS
    assert unpaired(a) == []
    # strided 3×3 convs mirrored by 2×2 transposed convs: SC203 per pair; 8×8×16 = 1,024
    # values for a 32×32 input: SC303; x ↦ floor(x/2) twice (30 → 15 → 7 → 28): only
    # H ≡ 0 (mod 4) comes back
    assert codes(a) == ["SC104", "SC203", "SC203", "SC303"]
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.verdict == "symmetric with notes"


@pytest.mark.parametrize("name", ["reflect_pad", "reflect_pad_dynamo"])
def test_reflection_pad_and_a_ceil_pool(corpus, name):
    a = symcheck.analyze(corpus[name])
    assert a.exporter.family == "pytorch"
    # ReflectionPad2d(1) + valid 3×3 keeps 30 and 15; the ceil pool rounds 15 up to 8,
    # bilinear ×2 gives 16 and the valid 2×2 conv trims it to 15
    assert a.ladder_text() == "30 → 15 → 8 ‖ 8 → 16 → 15 → 30"
    assert path_names(a) == ["c1.1", "p1", "c2.1", "p2", "c3", "up2", "c4", "up1", "c5"]
    assert layer_named(a, "c1.1").attrs["pad_layer"] == "reflect"
    assert pairs(a) == [("c1.1", "c5", 0), ("c2.1", "c4", 1)]
    assert unpaired(a) == ["c3"]
    assert codes(a) == ["SC101", "SC102", "SC103", "SC104", "SC201", "SC203", "SC303"]
    assert by_code(a, "SC101")[0].message == "p2 maps 15×15 to 8×8: rounds up (ceil_mode)"
    assert by_code(a, "SC103")[0].layers == ("c4", "p2")
    assert round_trip_statement(a) == "H, W ≡ 2 (mod 4)"  # 4k+2 → 2k+1 → k+1 → 2k+2 → 2k+1
    assert a.verdict == "asymmetric"


@pytest.mark.parametrize("name", ["odd27", "odd27_dynamo"])
def test_odd_input_rounds_twice(corpus, name):
    a = symcheck.analyze(corpus[name])
    # ZeroPad2d((0, 1, 0, 1)) makes 27 → 28, the valid 3×3 stride-2 conv gives 13, the
    # pool floors 13 to 6; two ConvTranspose k2 s2 give 12 and 24, not 27
    assert a.ladder_text() == "27 → 13 → 6 ‖ 6 → 12 → 24"
    assert [lv.encoder_size for lv in a.structure.levels] == [(27, 27), (13, 13), (6, 6)]
    assert [lv.decoder_size for lv in a.structure.levels] == [(24, 24), (12, 12), (6, 6)]
    assert pairs(a) == [("c1", "out", 0), ("c2", "up2", 1)]
    assert unpaired(a) == ["c3", "up1"]
    assert codes(a) == ["SC002", "SC101", "SC101", "SC102", "SC102", "SC104", "SC201", "SC203",
                        "SC204"]
    assert [(f.layers, f.message) for f in by_code(a, "SC101")] == [
        (("c2",), "c2 maps 27×27 to 13×13: rounds down"),
        (("pool",), "pool maps 13×13 to 6×6: rounds down")]
    assert "1×24×24" in by_code(a, "SC002")[0].message
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.verdict == "asymmetric"


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
    # products of two data tensors whose axes are no image's (untracked); the block is a
    # layout detour between the map and the reshape back to (b, c, h, w), so its layers
    # sit at the map's grid: the ladder passes through at the 8×8 bottleneck, no step.
    matmuls = _matmuls(a)
    assert len(matmuls) == 2
    grid = spatial_of(layer_named(a, "attn.qkv"))
    assert all(m.untracked and spatial_of(m) == grid for m in matmuls)
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


@pytest.mark.parametrize("name", ["qkv_attention", "qkv_attention_dynamo"])
def test_attention_block_at_the_bottleneck(corpus, name):
    # TorchScript writes unbind as Split, dynamo as Slice + Squeeze per part (the views
    # (0, 3, 2) and (0, 2, 3) of one 4-D layer that dynamo's export crashed on)
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    parts = [layer for layer in a.layers.layers.values()
             if layer.kind == ("split" if name == "qkv_attention" else "crop")]
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

    a = symcheck.analyze(corpus["qkv_attention_dynamic"])
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
    assert reader.untracked and spatial_of(reader) in (None, (8, 8))  # (8, 8): a detour's grid
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


# -- 15. GroupNorm and self-attention: reshapes that come back are no transitions -----

GN_KINDS = ["conv", "conv", "conv", "norm", "conv", "add", "conv-transpose", "conv-transpose", "conv"]
GN_ROLES = ["keep", "down", "down", "keep", "keep", "keep", "up", "up", "keep"]
GN_NORMED = ("c1", "c2", "c3", "rn", "u3", "u2")


@pytest.mark.parametrize("name", ["groupnorm", "groupnorm_dynamo"])
def test_groupnorm_is_a_norm_not_a_transition(corpus, name):
    a = symcheck.analyze(corpus[name])
    # Both exporters write GroupNorm as (N, C, H, W) → (N, G, C/G·H·W) →
    # InstanceNormalization → (N, C, H, W) → scale and shift: one norm at the map's
    # resolution, fused into the layer before it as BatchNorm is, not a reshape ↓ and
    # back ↑ (which gave SC003, SC102 and SC204).
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert path_kinds(a) == GN_KINDS
    assert [n for i, n in enumerate(path_names(a)) if i != 5] == [
        "c1", "c2", "c3", "rn", "rc", "u3", "u2", "head"]  # (5 is the residual Add)
    assert [s.role for s in a.structure.steps] == GN_ROLES
    assert [layer.name for layer in a.layers.layers.values()
            if layer.kind in ("reshape", "flatten", "unflatten")] == []
    assert {n: (layer_named(a, n).norm, layer_named(a, n).activation) for n in GN_NORMED} == \
        dict.fromkeys(GN_NORMED, ("group-norm", "silu"))
    assert layer_named(a, "head").norm is None
    assert layer_named(a, "c1").params == 80 + 16  # the conv, and GroupNorm's scale and shift
    # rn reads the residual block's input, which the Add reads too: a norm layer of its own
    rn = layer_named(a, "rn")
    assert rn.kind == "norm" and rn.in_shape == rn.out_shape == (1, 8, 8, 8)
    assert [lv.encoder_width for lv in a.structure.levels[:2]] == [8, 16]
    assert [lv.decoder_width for lv in a.structure.levels[:2]] == [8, 16]
    assert a.bottleneck.name == "c3"
    assert a.bottleneck_values == 512 and a.compression == 2.0
    assert pairs(a) == [("c1", "head", 0), ("c2", "u2", 1), ("c3", "u3", 2)]
    assert unpaired(a) == ["rc"]  # the residual block's conv at the bottleneck
    assert codes(a) == ["SC104", "SC201"]
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.verdict == "symmetric with notes"


ATTENTION_PAIRS = [("encoder.0", "decoder.2", 0), ("encoder.2", "decoder.0", 2)]


def attention_steps(a) -> list:
    """(kind, grid) of the main-path layers between the bottleneck conv and the residual Add."""
    ids = a.structure.path[1:-1]
    start, end = path_names(a).index("encoder.2") + 1, path_kinds(a).index("add")
    return [(a.layer(i).kind, a.layer(i).grid) for i in ids[start:end]]


@pytest.mark.parametrize("name", ["attention", "attention_dynamo"])
def test_attention_stays_at_the_bottleneck(corpus, name):
    a = symcheck.analyze(corpus[name])
    # q, k, v flattened to N×C×HW, softmax over the 8×8 positions, v·aᵀ reshaped back
    # to N×16×8×8: the block runs at 8×8, it is no ↓ to "16" and ↑ to "64" (SC102)
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert [s.role for s in a.structure.steps] == ["down", "down"] + ["keep"] * 6 + ["up", "up"]
    assert attention_steps(a) == [("conv", None)] + [
        (k, (8, 8)) for k in ("reshape", "matmul", "matmul", "reshape")]
    matmuls = [layer for layer in a.layers.layers.values() if layer.kind == "matmul"]
    assert sorted(layer.out_shape for layer in matmuls) == [(1, 16, 64), (1, 64, 64)]  # as exported
    # the k and v branches off the main path are inside the detour too
    assert len([layer for layer in a.layers.layers.values() if layer.grid == (8, 8)]) == 6
    assert a.structure.levels[2].decoder_widths == {16}  # not 64, the regrouped axis
    assert a.bottleneck.name == "encoder.2"
    assert a.bottleneck_values == 1024 and a.compression == 3.0
    assert pairs(a) == ATTENTION_PAIRS
    assert unpaired(a) == ["q"]
    assert codes(a) == ["SC104", "SC201"]
    assert "the extra learned layer at the bottleneck" in by_code(a, "SC201")[0].message
    assert round_trip_statement(a) == "only H, W = 32"  # static file: constant reshape sizes
    assert a.verdict == "symmetric with notes"


@pytest.mark.parametrize("name, kinds", [
    ("groupnorm_dynamic", GN_KINDS),
    ("attention_dynamic", ["conv", "conv", "conv", "reshape", "matmul", "matmul", "reshape", "add",
                           "conv-transpose", "conv-transpose"])])
def test_detours_keep_symbolic_sizes(corpus, name, kinds):
    from symcheck.verify import verify

    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "H → floor(H/2) → floor(H/4) ‖ floor(H/4) → 2*floor(H/4) → 4*floor(H/4)"
    assert path_kinds(a) == kinds
    assert codes(a) == ["SC104", "SC201"]
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    v = verify(a)  # the GroupNorms and the attention keep H, W at another size too
    assert v.status == "verified" and all(c.ok for c in v.layers)
    assert [(rt.size, rt.predicted, rt.actual, rt.held) for rt in v.round_trips] == [
        (32, (32, 32), (32, 32), True), (30, (28, 28), (28, 28), True)]


@pytest.mark.parametrize("name", ["attention_tokens", "attention_tokens_dynamo"])
def test_token_attention_with_linear_layers(corpus, name):
    a = symcheck.analyze(corpus[name])
    # the map as N×64×16 tokens through Linear layers (per position: MatMul on a
    # rank-3 tensor), unlike a VAE's flatten → Linear, which maps the whole map
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert attention_steps(a) == [
        (k, (8, 8)) for k in ("reshape", "dense", "matmul", "matmul", "dense", "reshape")]
    assert layer_named(a, "q").out_shape == (1, 64, 16) and layer_named(a, "q").learned
    assert pairs(a) == ATTENTION_PAIRS
    assert unpaired(a) == ["q", "proj"]  # learned layers at the bottleneck, one SC201
    assert codes(a) == ["SC104", "SC201"]
    assert round_trip_statement(a) == "only H, W = 32"  # static file: constant reshape sizes
    assert a.verdict == "symmetric with notes"


def test_qkv_split_is_no_pixel_shuffle(corpus):
    a = symcheck.analyze(corpus["attention_qkv"])
    # one 1×1 conv to 48 channels reshaped to N×3×16×64 has a pixel shuffle's shapes
    # (48 → 3 channels, 8×8 → 16×64) but regroups values in place and comes back to 8×8
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    qkv_split = layer_named(a, "Reshape")
    assert qkv_split.kind == "reshape" and qkv_split.out_shape == (1, 3, 16, 64)
    assert qkv_split.grid == (8, 8) and "factor" not in qkv_split.attrs
    assert "pixel-shuffle" not in [layer.kind for layer in a.layers.layers.values()]
    assert pairs(a) == ATTENTION_PAIRS
    assert codes(a) == ["SC104", "SC201"]
    assert round_trip_statement(a) == "only H, W = 32"  # static file: constant reshape sizes
    assert a.verdict == "symmetric with notes"


# -- index-gather resampling (dynamo's nearest-exact and adaptive pooling) --------------

def test_nearest_exact_gather_chain_is_one_upsample(corpus):
    # dynamo writes each nearest-exact ×2 as Transpose (2, 3, 0, 1) → GatherND of a
    # constant (16, 16, 2) index → Transpose (2, 3, 0, 1): one upsample judged by the
    # shapes at its two ends, back in (N, C, H, W), not a 16×16×1×8 "gathernd"
    a = symcheck.analyze(corpus["nearest_exact_dynamo"])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert path_kinds(a) == ["conv", "max-pool", "conv", "max-pool", "conv", "upsample",
                             "concat", "conv", "upsample", "concat", "conv", "conv"]
    ups = [a.layer(i) for i in a.structure.path if a.layer(i).kind == "upsample"]
    assert [(u.in_shape, u.out_shape, u.attrs["factor"], u.attrs["mode"]) for u in ups] == [
        ((1, 16, 8, 8), (1, 16, 16, 16), [2, 2], "nearest"),
        ((1, 8, 16, 16), (1, 8, 32, 32), [2, 2], "nearest")]
    cats = [a.layer(i) for i in a.structure.path if a.layer(i).kind == "concat"]
    assert [(c.out_shape, c.attrs["axis"]) for c in cats] == [((1, 24, 16, 16), 1), ((1, 12, 32, 32), 1)]
    assert pairs(a) == [("enc1.0", "head", 0), ("enc1.0", "dec1.0", 0), ("enc2.0", "dec2.0", 1)]
    assert unpaired(a) == ["mid.0"]
    assert [(src, lv) for _, src, lv in skips(a)] == [("enc2.0", 1), ("enc1.0", 0)]
    assert codes(a) == ["SC104", "SC201"]  # no SC003: two pools, two upsamplings
    assert a.verdict == "symmetric with notes"
    v = _verified(a)
    assert len(v.layers) == 12


def test_adaptive_pool_gather_reduce_is_one_down_transition(corpus):
    # AdaptiveAvgPool2d(4) on 50×50 as GatherND of the windows → Transpose → ReduceMean:
    # one down transition by the sizes at its ends (50 → 4, no integer factor: SC101);
    # the decoder's ×5 transposed convs run at 20 where the encoder ran at 50 (SC102)
    a = symcheck.analyze(corpus["adaptive_pool_dynamo"])
    assert a.ladder_text() == "100 → 50 → 4 ‖ 4 → 20 → 100"
    assert path_kinds(a) == ["conv", "max-pool", "conv", "downsample", "conv-transpose",
                             "conv-transpose", "conv"]
    pool = layer_named(a, "enc.5")
    assert (pool.in_shape, pool.out_shape, pool.attrs["mode"]) == ((1, 8, 50, 50), (1, 8, 4, 4), "mean")
    assert [s.role for s in a.structure.steps] == ["keep", "down", "keep", "down", "up", "up", "keep"]
    assert codes(a) == ["SC101", "SC102", "SC104", "SC201", "SC204", "SC204"]
    assert "50×50" in by_code(a, "SC102")[0].message and "×1×" not in by_code(a, "SC102")[0].message
    assert "enc.5 maps 50×50 to 4×4" in by_code(a, "SC101")[0].message
    assert a.verdict == "asymmetric"
    v = _verified(a)
    assert len(v.layers) == 7


def test_a_wrong_canonical_reading_is_never_verified(corpus):
    """Verification reads each layer's tensor in the layout the ONNX specification gives
    it (a Concat read by a Conv is N, C, H, W), not through the layer's own claimed axes:
    a Concat claimed as 16×16×1×24 with axes (2, 3, 0, 1), self-consistent with the
    tensor (1, 24, 16, 16), disagrees."""
    from symcheck.verify import verify

    a = symcheck.analyze(corpus["nearest_exact_dynamo"])
    cat = layer_named(a, "cat")
    cat.out_axes, cat.out_shape = (2, 3, 0, 1), (16, 16, 1, 24)  # the old wrong reading
    v = verify(a)
    check = next(c for c in v.layers if c.layer == "cat")
    assert (check.inferred, check.actual, check.result) == ((16, 16, 1, 24), (1, 24, 16, 16), "disagrees")
    assert v.status == "disagreement"
    assert [c.layer for c in v.layers if not c.ok] == ["cat"]


# -- every corpus model's inferred shapes hold in onnxruntime -------------------------

@pytest.mark.parametrize("name", sorted(MODELS) + list(KERAS_MODELS))
def test_corpus_verifies_in_onnxruntime(corpus, name):
    from symcheck.verify import verify

    a = symcheck.analyze(corpus[name])
    v = verify(a)
    assert v.status == "verified", (v.reason, [c for c in v.layers if not c.ok])
    assert all(c.ok for c in v.layers) and len(v.layers) >= 6
    assert all(rt.held for rt in v.round_trips)


# -- Linear layers over the channels of a channels-last view (ConvNeXt) ----------------

CONVNEXT_KINDS = ["conv", "conv", "dense", "dense", "add", "conv",
                  "conv", "dense", "dense", "add", "conv-transpose", "conv-transpose"]


def _check_convnext(a):
    assert path_kinds(a) == CONVNEXT_KINDS
    steps = a.structure.steps
    assert [s.role for s in steps] == ["down"] + ["keep"] * 4 + ["down"] + ["keep"] * 4 + ["up", "up"]
    assert [s.side for s in steps] == ["encoder"] * 6 + ["decoder"] * 6
    # each Linear maps channels at every position of the map it reads (permuted to
    # N×H×W×C): 16→64→16 at level 1, 32→128→32 at level 2, never a transition
    dense = [a.layer(i) for i in a.structure.path[1:-1] if a.layer(i).kind == "dense"]
    assert [(d.in_channels, d.channels) for d in dense] == [(16, 64), (64, 16), (32, 128), (128, 32)]
    assert [spatial_in(a.layers.layers, d) == spatial_of(d) for d in dense] == [True] * 4
    assert [a.structure.level_of[d.id] for d in dense] == [1, 1, 2, 2]
    # the permute back joins the NCHW residual: the block's Add keeps the map's size
    adds = [a.layer(i) for i in a.structure.path[1:-1] if a.layer(i).kind == "add"]
    assert [spatial_of(x) == spatial_in(a.layers.layers, x) for x in adds] == [True, True]
    # stem ↔ head; the stride-2 conv ↔ the stride-2 transposed conv (16→32 inverted)
    assert pairs(a) == [("stem.0", "head", 0), ("down.1", "up.0", 2)]
    # the blocks' learned layers: level 1's in the encoder, level 2's (the bottleneck)
    # in the decoder, each side's three with no counterpart
    left = [(a.layer(i).kind, a.layer(i).in_channels, a.layer(i).channels) for i in a.structure.unpaired]
    assert left == [("conv", 16, 16), ("dense", 16, 64), ("dense", 64, 16),
                    ("conv", 32, 32), ("dense", 32, 128), ("dense", 128, 32)]
    assert codes(a) == ["SC104", "SC201", "SC201"]  # no SC003: two down transitions, two up
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 8)"


@pytest.mark.parametrize("name", ["convnext", "convnext_dynamo"])
def test_convnext_linear_layers_mix_channels_in_place(corpus, name):
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 8 → 4 ‖ 4 → 8 → 32"
    pw1 = [a.layer(i) for i in a.structure.path[1:-1] if a.layer(i).kind == "dense"][0]
    assert pw1.in_shape == (1, 16, 8, 8) and pw1.out_shape == (1, 64, 8, 8)
    assert pw1.attrs["units"] == 64 and pw1.params == 16 * 64 + 64
    _check_convnext(a)
    _verified(a)
    assert a.verdict == "symmetric with notes"


def test_convnext_linear_layers_keep_symbolic_sizes(corpus):
    from symcheck.dims import Expr

    a = symcheck.analyze(corpus["convnext_dynamic"])
    assert a.ladder_text() == "H → floor(H/4) → floor(H/8) ‖ floor(H/8) → 2*floor(H/8) → 8*floor(H/8)"
    height, width = Expr.symbol("height"), Expr.symbol("width")
    dense = [a.layer(i) for i in a.structure.path[1:-1] if a.layer(i).kind == "dense"]
    assert dense[0].out_shape[1:] == (64, height // 4, width // 4)
    assert dense[3].out_shape[1:] == (32, height // 8, width // 8)
    _check_convnext(a)
    v = _verified(a)  # at 32 (round-trips) and 28 (gives 24)
    assert [(rt.size, rt.predicted, rt.actual, rt.held) for rt in v.round_trips] == [
        (32, (32, 32), (32, 32), True), (28, (24, 24), (24, 24), True)]
    assert a.verdict == "symmetric with notes"


# -- circular padding: a Concat of a tensor with slices of itself -----------------------

@pytest.mark.parametrize("name", ["circular", "circular_dynamo", "circular_dynamic"])
def test_circular_padding_is_the_convs_padding(corpus, name):
    # TorchScript writes padding_mode="circular" as Concat(x[:, :, -1:], x, x[:, :, :1]),
    # then the same along W: a pad, not a merge whose one-row slices are the main path
    # (which gave a ladder 32 → 1×32 ‖ 1×32 → 34×32 → ... and a false SC003)
    a = symcheck.analyze(corpus[name])
    dynamic = name.endswith("dynamic")
    assert a.ladder_text() == ("H → floor(H/2) ‖ floor(H/2) → 2*floor(H/2)" if dynamic else "32 → 16 ‖ 16 → 32")
    assert path_names(a) == ["encoder.0", "encoder.2", "encoder.4", "decoder.0", "decoder.2", "decoder.4"]
    assert path_kinds(a) == ["conv", "conv", "conv", "conv-transpose", "conv", "conv"]
    assert [a.layer(i).attrs["padding"] for i in a.structure.path[1:-1] if a.layer(i).kind == "conv"] \
        == ["same", "explicit", "same", "same", "same"]
    assert pairs(a) == [("encoder.0", "decoder.4", 0), ("encoder.2", "decoder.0", 1)]
    assert unpaired(a) == ["encoder.4", "decoder.2"]
    assert codes(a) == ["SC104", "SC201", "SC201"] + ([] if dynamic else ["SC303"])
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 2)"
    if name == "circular":
        first = layer_named(a, "encoder.0")
        assert first.in_shape == (1, 1, 32, 32) and first.attrs["pad_layer"] == "wrap"
        assert [n.rsplit("/", 1)[-1] for n in first.nodes] == [
            "Slice", "Slice_1", "Concat", "Slice_2", "Slice_3", "Concat_1", "Conv", "Relu"]
    _verified(a)
    assert a.verdict == "symmetric with notes"


# -- depthwise separable convs: a depthwise conv and the 1×1 conv that reads it ----------

@pytest.mark.parametrize("name", ["separable", "separable_dynamo"])
def test_depthwise_separable_convs_are_one_layer(corpus, name):
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "64 → 32 → 16 ‖ 16 → 32 → 64"
    assert path_names(a) == ["encoder.0", "encoder.2.0", "encoder.3.0", "decoder.0", "decoder.1.0",
                             "decoder.2", "decoder.3.0", "decoder.4"]
    assert path_kinds(a) == ["conv", "conv", "conv", "conv-transpose", "conv", "conv-transpose",
                             "conv", "conv"]
    block = layer_named(a, "encoder.2.0")  # depthwise 16→32 (multiplier 2), BN, ReLU, 1×1 32→32
    assert (block.in_shape, block.out_shape) == ((1, 16, 64, 64), (1, 32, 32, 32))
    assert block.attrs["separable"] == 16 and block.attrs["group"] == 1
    assert block.attrs["kernel"] == [3, 3] and block.attrs["stride"] == [2, 2]
    assert block.attrs["depthwise_activation"] == "relu" and block.activation == "relu"
    from symcheck.render.text import describe_layer

    assert describe_layer(a, block) == "conv 3×3 /2×2 explicit separable relu"
    assert block.params == 16 * 2 * 9 + 32 * 32 + 32 * 2  # BatchNorm folded into a bias each
    keras_style = layer_named(a, "decoder.1.0")  # depthwise then 1×1, nothing between
    assert keras_style.attrs["separable"] == 32 and "depthwise_activation" not in keras_style.attrs
    assert keras_style.params == 32 * 9 + 32 + 32 * 32 + 32
    assert a.total_params == sum(layer.params for layer in a.layers.layers.values()) == 16_787
    assert pairs(a) == [("encoder.0", "decoder.4", 0), ("encoder.2.0", "decoder.2", 1),
                        ("encoder.3.0", "decoder.0", 2)]
    assert unpaired(a) == ["decoder.1.0", "decoder.3.0"]
    assert codes(a) == ["SC104", "SC201", "SC201", "SC203", "SC203", "SC303"]
    _verified(a)
    assert a.verdict == "symmetric with notes"


# -- a vector quantizer: one row per bottleneck pixel, matched against a codebook -------

@pytest.mark.parametrize("name", ["vq_vae", "vq_vae_dynamo", "vq_vae_dynamic"])
def test_vector_quantizer_stays_at_the_bottleneck_grid(corpus, name):
    # (N, C, H, W) -> (N·H·W, C) rows, distances to the codebook (a MatMul), ArgMin, an
    # embedding Gather, back to (N, C, H, W): per pixel, not a flatten to one vector
    a = symcheck.analyze(corpus[name])
    dynamic = name.endswith("dynamic")
    assert a.ladder_text() == ("H → floor(H/2) → floor(H/4) ‖ floor(H/4) → 2*floor(H/4) → 4*floor(H/4)"
                               if dynamic else "32 → 16 → 8 ‖ 8 → 16 → 32")
    assert len(a.structure.levels) == 3
    assert pairs(a) == [("encoder.0", "decoder.2", 0), ("encoder.2", "decoder.0", 2)]  # stem-head, inverse
    assert [a.layer(i).kind for i in a.structure.levels[2].decoder_layers].count("dense") == 1
    assert "flatten" not in [layer.kind for layer in a.layers.layers.values()]
    if not dynamic:
        assert a.bottleneck_values == 16 * 8 * 8 and a.code.out_shape == (1, 16, 8, 8)
    assert codes(a) == ["SC104", "SC201"]  # the distance MatMul: a learned layer at the bottleneck
    assert round_trip_statement(a) == ("H, W ≡ 0 (mod 4)" if dynamic else "only H, W = 32")
    _verified(a)
    assert a.verdict == "symmetric with notes"


# -- a transformer over patch tokens between a patch embedding and its transposed conv ---

@pytest.mark.parametrize("name", ["patch_transformer", "patch_transformer_dynamo"])
def test_transformer_over_patch_tokens_stays_at_the_token_grid(corpus, name):
    # nn.TransformerEncoderLayer: the tokens go sequence-first (L, N, E) inside
    # MultiheadAttention and its out_proj is a Gemm over L·N rows: both per token, so
    # the block is a layout detour at 8×8, not five transitions (a false SC003 before)
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 8 ‖ 8 → 32"
    assert pairs(a) == [("embed", "head", 0)]
    block = [a.layer(i) for i in a.structure.levels[1].decoder_layers]
    assert [layer.kind for layer in block].count("dense") == 4  # in_proj, out_proj, linear1, linear2
    assert all(layer.grid == (8, 8) for layer in block)
    assert a.code.name == "embed" and a.code.out_shape == (1, 32, 8, 8) and a.bottleneck_values == 2048
    assert codes(a) == ["SC104", "SC201"]
    # the reshape back to the map has constant sizes: a 12×12 token grid cannot take them
    # (it said '48 returns 32' before)
    back = "Reshape_1" if name == "patch_transformer" else "view_10"
    assert a.round_trips[0].examples[48] == "invalid"
    assert by_code(a, "SC104")[0].message.endswith(f"32 works, 48 cannot run ({back} takes only 8, gets 12)")
    _verified(a)
    assert a.verdict == "symmetric with notes"


# -- strided convs down, fixed upsampling + conv up ---------------------------------------

@pytest.mark.parametrize("name", ["strided_upsample", "strided_upsample_dynamo"])
def test_conv_after_upsampling_pairs_with_the_strided_conv(corpus, name):
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    assert path_kinds(a) == ["conv", "conv", "upsample", "conv", "upsample", "conv"]
    # up2 (32→16 at 16×16, after the ×2) inverts down2 (16→32, 16×16 → 8×8)
    assert pairs(a) == [("down1", "up1", 0), ("down2", "up2", 1)]
    assert [p.how for p in a.structure.pairs] == ["stem-head", "across"]
    assert unpaired(a) == []
    # both use padding=1: 'explicit' on the strided conv, 'same' on the other, no SC203
    assert codes(a) == ["SC104", "SC204"]
    assert a.verdict == "symmetric with notes"


# -- NAFNet blocks: LayerNorm2d on a channels-last view, SimpleGate, channel attention ----

@pytest.mark.parametrize("name", ["naf_unet", "naf_unet_dynamo"])
def test_layer_norm_over_a_channels_last_view_keeps_the_map(corpus, name):
    # LayerNorm2d is permute(0, 2, 3, 1) -> LayerNorm(C) -> permute back: the norm layer
    # was recorded in the channels-last layout (1×32×32×8 where onnxruntime has 1×8×32×32:
    # five SC901 errors, a ladder '32 → 32×8 → 32 → ...')
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 16 → 8 ‖ 8 → 16 → 32"
    norms = [layer for layer in a.layers.layers.values() if layer.norm == "layer-norm"]
    assert [layer.out_shape for layer in norms] == [
        (1, 8, 32, 32), (1, 16, 16, 16), (1, 32, 8, 8), (1, 16, 16, 16), (1, 8, 32, 32)]
    # the chunk's Slices (ends computed from the channel count) cut the channels only, and
    # the attention's gate (computed through index gathers by dynamo) is 1×1 at every size
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 4)"
    assert a.round_trips[0].examples[28] == 28 and a.round_trips[0].examples[30] == "invalid"
    assert "SC901" not in codes(a) and "SC003" not in codes(a)
    _verified(a)
    assert a.verdict == "symmetric with notes"


# -- window attention whose scores have the map's sizes ------------------------------------

@pytest.mark.parametrize("name", ["swin_unet", "swin_unet_dynamo"])
def test_window_attention_scores_are_not_the_map(corpus, name):
    # on the 16×16 level, 4×4 windows give 16×16 attention scores: the scores (a product
    # of two data tensors) are no map on the 16×16 grid, so the block is one detour there
    # (it read '32 → 16 → 2×16×8 → 16 ‖ 16 → 32' with a false SC003)
    a = symcheck.analyze(corpus[name])
    assert a.ladder_text() == "32 → 16 ‖ 16 → 32"
    assert [a.layer(lv.down).name for lv in a.structure.levels[:1]] == ["down"]
    assert [a.layer(lv.up).name for lv in a.structure.levels[:1]] == ["up"]
    dense = [a.layer(i) for i in a.structure.levels[1].decoder_layers if a.layer(i).kind == "dense"]
    assert len(dense) == 2 and all(layer.grid == (16, 16) for layer in dense)  # qkv and proj
    assert codes(a) == ["SC104", "SC201", "SC303"]
    _verified(a)
    assert a.verdict == "symmetric with notes"
