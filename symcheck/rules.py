"""The findings catalog: one small rule per code, one registry.

Each :class:`Rule` documents itself (why it matters, a minimal example, how to
fix) and checks an :class:`~symcheck.analysis.Analysis`. ``docs/rules.md`` is
generated from :data:`RULES`; a test fails when it is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

from .analysis import Analysis, Finding
from .dims import Expr
from .structure import axis_factors, block_size, evaluate_axis, plain_size, spatial_in, spatial_of


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str
    summary: str  # when it fires, one line
    why: str
    example: str
    fix: str
    check: Callable[[Analysis], Iterator[Finding]]

    def finding(self, message: str, layers: Sequence[str] = (), level=None,
                related: Sequence[str] = ()) -> Finding:
        return Finding(self.code, self.name, self.severity, message, tuple(layers), level,
                       tuple(related))


RULES: dict[str, Rule] = {}


def rule(code: str, name: str, severity: str, summary: str, why: str, example: str, fix: str):
    def register(check):
        assert code not in RULES, f"{code} registered twice"
        assert all(r.name != name for r in RULES.values()), f"{name} registered twice"
        RULES[code] = Rule(code, name, severity, summary, why, example.strip("\n"), fix, check)
        return check
    return register


# -- helpers ------------------------------------------------------------------

def _name(a: Analysis, lid) -> str:
    return a.layer(lid).name


def _size(a: Analysis, spatial) -> str:
    return a.size_text(spatial)


def _channels(a: Analysis, lid) -> str:
    layer = a.layer(lid)
    return f"{a.dim_text(layer.in_channels)}→{a.dim_text(layer.channels)}"


def _kind_text(layer) -> str:
    return {"conv": "conv", "conv-transpose": "transposed conv", "dense": "dense layer"}.get(
        layer.kind, layer.kind)


def probe_env(a: Analysis) -> dict:
    """For symbolic inputs: symbol -> a representative size that round-trips (else 32)."""
    if not a.symbolic or not a.round_trips:
        return {}
    size = next((h for h, out in round_trip_examples(a) if out == h), 32)
    env = {}
    for dim in (a.input_layer.out_shape or ())[2:]:
        if isinstance(dim, Expr):
            for symbol in dim.symbols():
                env[symbol] = size
    return env


def at(dim, env: dict):
    """``dim`` as an int, evaluating a symbolic dim at ``env`` (None when it cannot)."""
    if isinstance(dim, int):
        return dim
    if isinstance(dim, Expr) and env:
        try:
            return dim.evaluate({**{s: 1 for s in dim.symbols()}, **env})
        except (KeyError, ZeroDivisionError):
            return None
    return None


def _probe_note(a: Analysis, env: dict, dims) -> str:
    """`` at H = 28 (7→4)`` for messages about symbolic sizes."""
    if not env or all(isinstance(d, int) for d in dims):
        return ""
    return f" at {_axes_names(a)[0]} = {next(iter(env.values()))}"


def _rounding_findings(a: Analysis) -> dict:
    """Down transitions whose factor does not divide the size: lid -> (before, after)."""
    out: dict = {}
    st = a.structure
    if not st.is_encoder_decoder:
        return out
    env = probe_env(a)
    prev = spatial_of(a.input_layer)
    for step in st.steps:
        layer = a.layer(step.layer)
        after = spatial_of(layer)
        if step.role == "down" and isinstance(step.factor, int) and prev and after \
                and layer.kind not in ("dense", "flatten", "global-pool"):
            sizes = [at(d, env) for d in prev]
            if any(isinstance(d, int) and d % step.factor for d in sizes):
                out[step.layer] = (prev, after)
        if after is not None:
            prev = after
    return out


# -- structure ------------------------------------------------------------------

@rule("SC001", "not-encoder-decoder", "info",
      "the model has no upsampling path, so there is no decoder to compare",
      why="Symmetry is a question about encoder-decoder models. A classifier or "
          "regressor only narrows its input; symcheck still shows its layers and shapes.",
      example="conv 20×20 → conv 16×20 → … → dense 100 → dense 1   (a regressor)",
      fix="Nothing to fix. Point symcheck at an autoencoder, U-Net or other model that "
          "upsamples back to an image.")
def _sc001(a: Analysis):
    if not a.is_encoder_decoder:
        downs = len(a.structure.downs)
        what = "no down or up transitions" if not downs else f"{downs} down transition(s) and no way back up"
        yield RULES["SC001"].finding(
            f"no decoder: the main path has {what}; only the layer table is reported")


@rule("SC002", "output-shape-mismatch", "error",
      "a reconstruction model's output shape differs from its input shape",
      why="An autoencoder or denoiser is trained to give back its input; an output of "
          "another size cannot be compared with the input by the loss without resizing, "
          "and usually means the decoder does not undo the encoder at this input size.",
      example="input 28×28×1 → … → output 32×32×1   (MATLAB's 32×32 network fed 28×28)",
      fix="Feed a size the model round-trips (see SC104), or make the decoder undo the "
          "encoder's rounding (crop, valid conv, or output_padding).")
def _sc002(a: Analysis):
    if not a.is_encoder_decoder or not a.is_reconstruction:
        return
    inp, out = a.input_layer.out_shape, a.output_layer.out_shape
    if inp is None or out is None:
        return  # (is_reconstruction already needs both shapes)
    if a.symbolic and round_trip_statement(a) and not round_trip_statement(a).startswith("no size"):
        return  # some sizes round-trip: SC104 states which
    if tuple(inp[1:]) != tuple(out[1:]):
        fmt = lambda s: "×".join(a.dim_text(d) for d in a.to_user_layout(s)[1:])
        yield RULES["SC002"].finding(
            f"the output is {fmt(out)} but the input is {fmt(inp)}",
            [a.output_name, a.input_name])


@rule("SC003", "level-count-mismatch", "error",
      "the number of down transitions differs from the number of levels the up transitions return",
      why="Each down transition (pooling, strided conv) must be undone by an up transition "
          "for the output to come back to the input's resolution; a missing or extra one "
          "changes the output size by a whole factor. One up transition may return several "
          "levels at once (a ×8 resize after three ×2 downs: SC204 says so).",
      example="28 → 14 → 7 ‖ 7 → 14 → 28 → 56",
      fix="Add or remove an upsampling stage so the decoder has as many as the encoder.")
def _sc003(a: Analysis):
    if not a.is_encoder_decoder:
        return
    st = a.structure
    downs, ups = st.downs, st.ups
    if len(downs) != st.up_levels:
        returning = f" returning {st.up_levels} level(s)" if st.up_levels != len(ups) else ""
        yield RULES["SC003"].finding(
            f"{len(downs)} down transition(s) but {len(ups)} up transition(s){returning}",
            [_name(a, s.layer) for s in downs + ups])


# -- resolution -----------------------------------------------------------------

@rule("SC101", "rounding", "warning",
      "a down transition maps a size that its factor does not divide (7→4, 7→3)",
      why="Pooling or striding an odd size rounds: 'same' padding rounds up (7→4), 'valid' "
          "rounds down (7→3). Upsampling cannot undo it, so the decoder runs at other "
          "sizes than the encoder from this level on.",
      example="max_pooling2d_2: MaxPooling2D(2, padding='same') on 7×7 gives 4×4",
      fix="Use an input size divisible by the product of the strides (SC104 lists them), "
          "or pad the input once before the encoder.")
def _sc101(a: Analysis):
    env = probe_env(a)
    for lid, (before, after) in _rounding_findings(a).items():
        layer = a.layer(lid)
        pairs = [(at(x, env), at(y, env)) for x, y in zip(before, after)]
        up = any(isinstance(x, int) and isinstance(y, int) and y * layer_factor(a, lid) > x
                 for x, y in pairs)
        how = "rounds up" if up else "rounds down"
        detail = ""
        if up and layer.attrs.get("padding") == "same":
            detail = {1: " (same padding adds one element)", 2: " (same padding adds a row and a column)"}.get(
                len(before), " (same padding pads the odd sizes by one)")
        elif up and layer.attrs.get("ceil_mode"):
            detail = " (ceil_mode)"
        note = _probe_note(a, env, before)
        if note:
            note += f" ({pairs[0][0]}→{pairs[0][1]})"
        yield RULES["SC101"].finding(
            f"{layer.name} maps {_size(a, before)} to {_size(a, after)}: {how}{detail}{note}",
            [layer.name], level=a.structure.level_of.get(lid, (None,))[0]
            if isinstance(a.structure.level_of.get(lid), tuple) else None)


@rule("SC102", "resolution-mismatch", "warning",
      "a decoder level runs at another size than the encoder level it mirrors",
      why="Paired levels should see the same resolution; a mismatch (usually after a "
          "rounding, SC101) means skip connections cannot join and the decoder needs a "
          "fix-up (SC103) to reach the input size again.",
      example="level 2: encoder 7×7, decoder 8×8",
      fix="Remove the rounding (SC101) rather than trimming afterwards.")
def _sc102(a: Analysis):
    if not a.is_encoder_decoder:
        return
    rounding = _rounding_findings(a)
    cropped = {m[0] for m in _skip_mismatches(a)}
    env = probe_env(a)
    for level in a.structure.levels[:-1]:
        if level.encoder_size is None or level.decoder_size is None:
            continue
        if tuple(level.encoder_size) == tuple(level.decoder_size) or level.index in cropped:
            continue  # a mismatched skip at this level is SC302's finding
        enc_at = [at(d, env) for d in level.encoder_size]
        dec_at = [at(d, env) for d in level.decoder_size]
        if env and None not in enc_at + dec_at and enc_at == dec_at:
            continue  # equal at the sizes that round-trip
        names = [n for n in (level.up, level.down) if n is not None]
        note = _probe_note(a, env, level.encoder_size)
        if note:
            note += f" ({dec_at[0]} vs {enc_at[0]})"
        yield RULES["SC102"].finding(
            f"level {level.index}: the decoder runs at {_size(a, level.decoder_size)} where the "
            f"encoder ran at {_size(a, level.encoder_size)}{note}",
            [_name(a, n) for n in names], level=level.index,
            related=("SC101",) if rounding else ())


@rule("SC103", "size-fixup", "warning",
      "the decoder trims (valid conv, crop) or pads by a few pixels to repair a size",
      why="A fix-up hides a rounding upstream: it makes the output size right for one input "
          "size only and throws away (or invents) border pixels.",
      example="conv2d_5: Conv2D(16, 3) without padding='same' trims 16×16 to 14×14",
      fix="Remove the rounding that made it necessary (SC101) and use 'same' padding here.")
def _sc103(a: Analysis):
    st = a.structure
    rounding = _rounding_findings(a)
    env = probe_env(a)
    for step in st.steps:
        if step.side != "decoder" or step.role not in ("adjust", "up"):
            continue
        layer = a.layer(step.layer)
        before = spatial_in(a.layers.layers, layer)
        after = spatial_of(layer)
        if step.role == "up":
            # an upsampling to a size (Resize with sizes) that is not factor × input
            # is a transition and a fix-up in one
            yield from _resize_fixup(a, step, layer, before, after, rounding, env)
            continue
        if layer.kind == "conv":
            verb = f'uses padding "{layer.attrs.get("padding", "valid")}" to trim'
            if before and after and any(nominal_gt(y, x) for x, y in zip(before, after)):
                verb = "grows"
        elif layer.kind == "crop":
            verb = "crops"
        elif layer.kind == "pad":
            verb = "pads"
        else:
            verb = "resizes"
        level = st.levels[step.level_in] if 0 <= step.level_in < len(st.levels) else None
        goal = level.encoder_size if level is not None else None
        if (before is None or after is None or goal is None
                or not _moves_toward(before, after, goal, env)):
            continue  # a size change that repairs nothing is not a fix-up (see SC102/SC203)
        target = ""
        if after is not None and [at(d, env) for d in after] == [at(d, env) for d in goal]:
            target = f", the encoder's size at level {step.level_in}"
        note = _probe_note(a, env, before)
        if note:
            target += f"{note} ({at(before[0], env)}→{at(after[0], env)})"
        repair = ""
        if rounding:
            repair = ", repairing the rounding at " + ", ".join(_name(a, r) for r in rounding)
        yield RULES["SC103"].finding(
            f"{layer.name} {verb} {_size(a, before)} to {_size(a, after)}{target}{repair}",
            [layer.name] + [_name(a, r) for r in rounding], level=step.level_in,
            related=("SC101",) if rounding else ())


def _resize_fixup(a: Analysis, step, layer, before, after, rounding: dict, env: dict):
    if not before or not after or len(before) != len(after):
        return
    factors = axis_factors(layer, step)
    if len(factors) != len(before):
        return
    plain = tuple(f * d for f, d in zip(factors, before))
    factor = max(factors)
    if [at(d, env) for d in plain] == [at(d, env) for d in after]:
        return
    level = a.structure.levels[step.level_out] if 0 <= step.level_out < len(a.structure.levels) else None
    goal = level.encoder_size if level is not None else None
    if not _moves_toward(plain, after, goal, env):
        return
    repair = ""
    if rounding:
        repair = ", repairing the rounding at " + ", ".join(_name(a, r) for r in rounding)
    yield RULES["SC103"].finding(
        f"{layer.name} resizes {_size(a, before)} to {_size(a, after)} (×{factor} would give "
        f"{_size(a, plain)}), the encoder's size at level {step.level_out}{repair}",
        [layer.name] + [_name(a, r) for r in rounding], level=step.level_out,
        related=("SC101",) if rounding else ())


def layer_factor(a: Analysis, lid) -> int:
    step = next((s for s in a.structure.steps if s.layer == lid), None)
    return step.factor if step is not None and isinstance(step.factor, int) else 2


def _moves_toward(before, after, goal, env: dict) -> bool:
    """True when an adjustment brings the decoder's size closer to the encoder's."""
    if not before or not after or not goal or len(before) != len(after) or len(goal) != len(after):
        return False
    closer = False
    for b, x, g in zip(before, after, goal):
        b, x, g = at(b, env), at(x, env), at(g, env)
        if not all(isinstance(v, int) for v in (b, x, g)):
            continue
        if abs(x - g) > abs(b - g):
            return False
        if abs(x - g) < abs(b - g):
            closer = True
    return closer


def nominal_gt(x, y) -> bool:
    return isinstance(x, int) and isinstance(y, int) and x > y


def _axes_names(a: Analysis) -> list:
    spatial = len(a.input_layer.out_shape or ()) - 2
    return {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}.get(spatial, [f"S{i}" for i in range(spatial)])


def round_trip_statement(a: Analysis) -> str:
    """``H, W ≡ 4 (mod 8)`` or ``only H = 28, W = 28``; empty when all sizes work."""
    if not a.round_trips:
        return ""
    names = _axes_names(a)
    groups: dict = {}
    for rt, name in zip(a.round_trips, names):
        key: tuple
        if rt.unknown:
            key = ("unknown",)
        elif rt.only is not None:
            key = ("only", rt.only)
        elif rt.modulus is None:
            key = ("none",)
        else:
            key = ("mod", rt.modulus, rt.residues, rt.minimum if rt.minimum > rt.modulus else None)
        groups.setdefault(key, []).append(name)
    parts = []
    for key, axes in groups.items():
        label = ", ".join(axes)
        if key[0] == "unknown":
            parts.append(f"{label} unknown")
        elif key[0] == "none":
            parts.append(f"no size of {label}")
        elif key[0] == "only":
            parts.append(f"only {label} = {', '.join(map(str, key[1]))}")
        else:
            _, m, residues, minimum = key
            if m == 1:
                parts.append(f"any {label}" + (f" ≥ {minimum}" if minimum else ""))
            else:
                text = f"{label} ≡ {', '.join(map(str, residues))} (mod {m})"
                if minimum:
                    text += f", {label} ≥ {minimum}"
                parts.append(text)
    return "; ".join(parts)


@rule("SC104", "input-size-constraint", "info",
      "only some input sizes give back an output of the same size",
      why="Every rounding down the encoder is a size the decoder cannot restore; knowing the "
          "sizes that round-trip tells you which images to feed, or to pad them to.",
      example="gives back its input only for H, W ≡ 4 (mod 8): 28 works, 32 returns 28",
      fix="Feed sizes from the stated set, pad inputs to it, or remove the rounding (SC101).")
def _sc104(a: Analysis):
    if not a.round_trips or all(rt.unknown for rt in a.round_trips):
        return
    if all(rt.modulus == 1 and (rt.minimum or 1) <= 2 for rt in a.round_trips):
        return
    statement = round_trip_statement(a)
    if statement.startswith("no size") and not a.is_reconstruction:
        return  # dense prediction: SC105 says how the size changes
    if statement.startswith("no size") and len(a.structure.downs) != a.structure.up_levels:
        return  # SC003 is the reason no size round-trips
    if statement.startswith("no size"):
        yield RULES["SC104"].finding(f"gives back its input size for {statement}", [a.input_name])
        return
    examples = ", ".join(_describe(h, out, a) for h, out in round_trip_examples(a))
    tail = f": {examples}" if examples else ""
    statement = statement[len("only "):] if statement.startswith("only ") else statement
    yield RULES["SC104"].finding(f"gives back its input size only for {statement}{tail}",
                                 [a.input_name])


def round_trip_examples(a: Analysis, reference: int = 32) -> list:
    """Two sizes along the first spatial axis, one that round-trips and one that does not.

    The analysed size comes first when it is static; the contrasting size is
    the 'roundest' nearby one (most factors of two), as a person would try it.
    """
    rt = a.round_trips[0]
    spatial = spatial_of(a.input_layer) or ()
    current = spatial[0] if spatial and isinstance(spatial[0], int) else None
    known = {h: v for h, v in rt.examples.items() if v is not None}
    if not known:
        return []

    def roundness(h: int) -> int:
        return (h & -h)

    # below the smallest working size, layers shrink to nothing and runtimes
    # disagree on what happens; contrast with sizes at or above it
    floor = rt.minimum or min((h for h in known if known[h] == h), default=4)

    def nearest(want_ok: bool, ref: int) -> Optional[int]:
        pool = [h for h in known if (known[h] == h) == want_ok and h != current and h >= max(floor, 4)]
        if not pool:
            return None
        return min(pool, key=lambda h: (-roundness(h) if abs(h - ref) <= 16 else 0, abs(h - ref), h))

    out = []
    if current is not None and current in known:
        out.append((current, known[current]))
        other = nearest(known[current] != current, current)
        if other is not None:
            out.append((other, known[other]))
        return out
    good = nearest(True, reference)
    if good is not None:
        out.append((good, known[good]))
    bad = nearest(False, reference)
    if bad is not None:
        out.append((bad, known[bad]))
    return out


def _describe(h: int, out, a: Optional[Analysis] = None) -> str:
    if out == h:
        return f"{h} works"
    reason = _why_not(a, h) if out == "invalid" and a is not None else None
    if reason is not None:
        return f"{h} cannot run ({reason})"
    return f"{h} {_outcome(out)}"


def _why_not(a: Analysis, h: int) -> Optional[str]:
    """Where input size ``h`` (first spatial axis) stops the model: the first layer, in
    graph order, that cannot take the sizes its inputs give it; None if none is found."""
    lg = a.layers
    order = lg.dag.topological_sort()
    rt = a.round_trips[0] if a.round_trips else None
    evaluated = rt is not None and rt.size_at(a.structure.input_id, h) == h  # the round trip's lists
    sizes = {} if evaluated else evaluate_axis(lg, order, a.structure.input_id, 0, h)

    def size(lid: int):
        return plain_size(rt.size_at(lid, h)) if evaluated and rt is not None else sizes.get(lid)
    for lid in order:
        layer = lg.layers[lid]
        if size(lid) != "invalid":
            continue
        fed = [size(i) for i in layer.inputs]
        if "invalid" in fed:
            continue  # stopped further up
        known = [f for f in fed if isinstance(f, int)]
        transfer = layer.transfer[0] if layer.transfer else None
        block = block_size(layer, 0)
        if block is not None and known:
            return f"{layer.name}, a space-to-depth by {block}, gets {known[0]}"
        if isinstance(transfer, tuple) and transfer[0] == "fixed" and known:
            return f"{layer.name} takes only {transfer[1]}, gets {known[0]}"
        if len(set(known)) > 1:
            shown = " and ".join(str(k) for k in dict.fromkeys(known))
            return f"sizes {shown} meet at {layer.name}"
        return None
    return None


@rule("SC105", "tiling", "info",
      "a dense-prediction model's output size differs from its input size by design",
      why="Segmentation and other dense-prediction models with 'valid' convolutions (the "
          "original U-Net maps 572×572 to 388×388) predict only the interior of their input; "
          "large images must be tiled with an overlap of the lost border.",
      example="maps H to H - 184 for H ≡ 12 (mod 16), H ≥ 188: tiles overlap by 184 pixels",
      fix="Tile inputs with the stated overlap, or use 'same' padding if the border matters.")
def _sc105(a: Analysis):
    if not a.is_encoder_decoder or a.is_reconstruction or not a.round_trips:
        return
    inp, out = spatial_of(a.input_layer), spatial_of(a.output_layer)
    if inp is None or out is None or tuple(inp) == tuple(out):
        return
    names = _axes_names(a)
    rt = a.round_trips[0]
    if rt.offset is not None and rt.offset < 0:
        mapping = f"maps {names[0]} to {names[0]} - {-rt.offset}"
        overlap = f": tiles must overlap by {-rt.offset} pixels ({-rt.offset // 2} per side)"
    else:
        mapping = f"maps {_size(a, inp)} to {_size(a, out)}"
        overlap = ""
    runs = ""
    if rt.runs is not None:
        m, residues, start = rt.runs
        if m > 1:
            runs = f" for {names[0]} ≡ {', '.join(map(str, residues))} (mod {m}), {names[0]} ≥ {start}"
        elif start > 1:
            runs = f" for {names[0]} ≥ {start}"
    yield RULES["SC105"].finding(f"{mapping}{runs}{overlap}", [a.output_name])


def _outcome(out) -> str:
    if out == "invalid":
        return "cannot run (sizes do not meet at a merge or dense layer)"
    if out is None:
        return "gives an unknown size"
    return f"returns {out}"


# -- pairing ----------------------------------------------------------------------

@rule("SC201", "unpaired-layer", "info",
      "a learned layer has no counterpart on the other side of the U",
      why="Decoders often carry one learned layer more than their encoders (an extra conv "
          "at the bottleneck, a learned upsampling reading it). That is a design choice, "
          "not a bug, but it is where the two halves stop mirroring each other.",
      example="conv2d_3: Conv2D(8, 3) at 4×4 right after the last pooling (Keras blog CAE)",
      fix="Nothing, if intended. For a mirror image, remove it or give the encoder a "
          "counterpart at the same level.")
def _sc201(a: Analysis):
    st = a.structure
    if not a.is_encoder_decoder:
        return
    groups: dict = {}
    for lid in st.unpaired:
        lv = st.level_of.get(lid)
        reads = lv[0] if isinstance(lv, tuple) else lv
        groups.setdefault((st.side.get(lid, "decoder"), reads), []).append(lid)
    for (side, reads), lids in groups.items():
        other = "encoder" if side == "decoder" else "decoder"
        parts, has_transition, has_plain = [], False, False
        for lid in lids:
            layer = a.layer(lid)
            before = spatial_in(a.layers.layers, layer)
            after = spatial_of(layer)
            same = before == after
            upsampling = isinstance(st.level_of.get(lid), tuple)
            has_plain |= not upsampling
            has_transition |= upsampling
            where = _size(a, after) if same else f"{_size(a, before)}→{_size(a, after)}"
            parts.append(f"{layer.name} ({_kind_text(layer)} {_channels(a, lid)} at {where})")
        note = ""
        if side == "decoder" and reads == st.bottleneck:
            if has_plain:
                note = ": the extra learned layer" + ("s" if len(lids) > 1 else "") + " at the bottleneck"
            else:
                note = ": the learned upsampling that reads the bottleneck does the extra layer's work"
        verb = "has" if len(lids) == 1 else "have"
        text = _join(parts)
        yield RULES["SC201"].finding(
            f"{text} {verb} no {other} counterpart{note}", [a.layer(l).name for l in lids], level=reads)


def _join(parts: list) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@rule("SC202", "width-mismatch", "info",
      "paired levels have no channel width in common",
      why="Mirrored widths keep the decoder's capacity equal to the encoder's at each "
          "resolution; a narrower decoder is a bottleneck of its own, a wider one costs "
          "parameters the encoder cannot feed.",
      example="level 1: encoder 16 channels, decoder 32",
      fix="Match the decoder's channel count at that level, or accept it as intended.")
def _sc202(a: Analysis):
    if not a.is_encoder_decoder:
        return
    for level in a.structure.levels[:-1]:
        enc = {w for w in level.encoder_widths if w is not None}
        dec = {w for w in level.decoder_widths if w is not None}
        if not enc or not dec or enc & dec:
            continue  # some width lives on both sides of this level
        fmt = lambda ws: "/".join(a.dim_text(w) for w in sorted(ws, key=str))
        yield RULES["SC202"].finding(
            f"level {level.index}: the encoder carries {fmt(enc)} channels, the decoder {fmt(dec)}",
            [_name(a, n) for n in (level.down, level.up) if n is not None], level=level.index)


@rule("SC203", "kernel-mismatch", "info",
      "paired convolutions differ in kernel size, dilation or padding mode",
      why="Mirrored layers with different receptive fields see different context; it is "
          "often a copy-paste slip.",
      example="encoder Conv2d(16, 32, 3, padding=1) ↔ decoder Conv2d(32, 16, 5, padding=2)",
      fix="Use the same kernel, dilation and padding on both sides, or accept it as intended.")
def _sc203(a: Analysis):
    st = a.structure
    adjusted = {s.layer for s in st.steps if s.role == "adjust"}
    steps = {s.layer: s for s in st.steps}
    for pair in st.pairs:
        if pair.how == "stem-head":
            continue  # a head is a projection back to the input's channels
        e, d = a.layer(pair.encoder), a.layer(pair.decoder)
        e_step, d_step = steps.get(pair.encoder), steps.get(pair.decoder)
        if e.kind != d.kind and not (e_step and d_step and e_step.role == "down" and d_step.role == "up"):
            continue
        if e.kind != d.kind and e.kind not in ("conv",):
            continue
        diffs = []
        if e.attrs.get("kernel") != d.attrs.get("kernel"):
            diffs.append(f"kernel {_k(e)} vs {_k(d)}")
        if e.attrs.get("dilation") != d.attrs.get("dilation"):
            diffs.append(f"dilation {e.attrs.get('dilation')} vs {d.attrs.get('dilation')}")
        # padding modes name the output size, which depends on the stride: a strided conv's
        # padding=1 is 'explicit', the same padding on a stride-1 conv 'same'
        if (e.attrs.get("padding") != d.attrs.get("padding") and pair.decoder not in adjusted
                and pair.encoder not in adjusted and e.kind == d.kind
                and e.attrs.get("stride") == d.attrs.get("stride")):
            diffs.append(f"padding {e.attrs.get('padding')} vs {d.attrs.get('padding')}")
        if diffs:
            yield RULES["SC203"].finding(
                f"{e.name} and {d.name} (level {pair.level}) differ: {'; '.join(diffs)}",
                [e.name, d.name], level=pair.level)


def _k(layer) -> str:
    return "×".join(str(k) for k in layer.attrs.get("kernel") or []) or "?"


@rule("SC204", "operator-asymmetry", "info",
      "a down transition and its mirrored up transition are not of the same nature, or one "
      "up transition returns several levels",
      why="A fixed down transition (max-pool) mirrored by a learned up transition "
          "(transposed conv), or the reverse, puts learned parameters on one side only; "
          "it is common and often fine, but it is not a mirror image. Neither is a single "
          "×8 resize back over three ×2 downs (DeepLab): the decoder has no stage at the "
          "levels in between.",
      example="maxpool ↓2 ↔ transposed conv k2 s2 ↑2 (MATLAB image-to-image example)",
      fix="Pair max-pool with upsampling, and strided conv with transposed conv (or conv + "
          "pixel shuffle), if you want the halves to mirror.")
def _sc204(a: Analysis):
    if not a.is_encoder_decoder:
        return
    st = a.structure
    groups: dict = {}
    for level in st.levels[:-1]:
        if level.down is None or level.up is None:
            continue
        span = st.level_of.get(level.up)
        if isinstance(span, tuple) and span[0] - span[1] > 1:
            yield _jump_finding(a, level.up, span)
            continue
        down, up = a.layer(level.down), a.layer(level.up)
        if down.learned == up.learned:
            continue
        key = (_transition_text(down), _transition_text(up))
        groups.setdefault(key, []).append(level)
    for (down_text, up_text), levels in groups.items():
        ups = [_name(a, lv.up) for lv in reversed(levels)]
        downs = [_name(a, lv.down) for lv in levels]
        which = ", ".join(str(lv.index) for lv in levels)
        yield RULES["SC204"].finding(
            f"the decoder uses {up_text} ({', '.join(ups)}) where the encoder uses {down_text} "
            f"({', '.join(downs)}) at level(s) {which}",
            ups + downs, level=levels[0].index)


def _jump_finding(a: Analysis, up_id, span: tuple) -> Finding:
    """SC204 for one up transition that returns from level ``span[0]`` to ``span[1]``."""
    st = a.structure
    downs = [st.levels[k].down for k in range(span[1], span[0]) if st.levels[k].down is not None]
    texts = sorted({_transition_text(a.layer(d)) for d in downs})
    up = a.layer(up_id)
    step = next((s for s in st.steps if s.layer == up_id), None)
    factor = f"×{step.factor} " if step is not None and isinstance(step.factor, int) else ""
    names = [_name(a, d) for d in downs]
    return RULES["SC204"].finding(
        f"{up.name} ({_transition_text(up)}) returns from level {span[0]} to level {span[1]} in "
        f"one {factor}step where the encoder takes {len(downs)} ({' and '.join(texts)}: "
        f"{', '.join(names)})", [up.name] + names, level=span[1])


def _transition_text(layer) -> str:
    return {"max-pool": "max-pooling", "avg-pool": "average pooling",
            "conv": "strided convs", "conv-transpose": "learned upsampling (transposed convs)",
            "upsample": "fixed upsampling", "pixel-shuffle": "pixel shuffle",
            "space-to-depth": "space-to-depth"}.get(layer.kind, layer.kind)


# -- operator risks ------------------------------------------------------------

@rule("SC301", "checkerboard-risk", "warning",
      "a transposed convolution's kernel is not divisible by its stride",
      why="With kernel % stride ≠ 0 the kernel windows overlap unevenly, which paints "
          "checkerboard artifacts into the output (Odena et al., 2016, 'Deconvolution and "
          "Checkerboard Artifacts').",
      example="ConvTranspose2d(32, 16, kernel_size=3, stride=2)",
      fix="Use kernel = stride (or a multiple), or upsample + conv instead.")
def _sc301(a: Analysis):
    for layer in a.layers.layers.values():
        if layer.kind != "conv-transpose":
            continue
        ks, ss = layer.attrs.get("kernel") or [], layer.attrs.get("stride") or []
        bad = [(k, s) for k, s in zip(ks, ss) if s > 1 and k % s]
        if bad:
            k, s = bad[0]
            yield RULES["SC301"].finding(
                f"{layer.name} has kernel {k} and stride {s}: {k} is not a multiple of {s}",
                [layer.name])


def _skip_mismatches(a: Analysis) -> list:
    """(level, merge id, origin id, origin size, decoder size, crop id) per mismatched skip."""
    st = a.structure
    out = []
    env = probe_env(a)
    for merge_id, origin in st.skips:
        merge = a.layer(merge_id)
        src = spatial_of(a.layer(origin))
        main_inputs = [i for i in merge.inputs if i in st.on_path and st.side.get(i) == "decoder"]
        if not main_inputs:
            continue
        other = spatial_of(a.layer(main_inputs[0]))
        if src is None or other is None or tuple(src) == tuple(other):
            continue
        if env and [at(d, env) for d in src] == [at(d, env) for d in other]:
            continue  # equal at the sizes that round-trip
        crops = [i for i in merge.inputs if i not in st.on_path and a.layer(i).kind in ("crop", "pad", "upsample")]
        level = st.level_of.get(merge_id)
        out.append((level if isinstance(level, int) else None, merge_id, origin, src, other,
                    crops[0] if crops else None))
    return out


@rule("SC302", "skip-mismatch", "error",
      "a skip connection joins tensors of different sizes",
      why="A skip connection must join tensors of the same resolution; a mismatch needs a "
          "crop (the original U-Net crops 64×64 to 56×56) that throws away border context, "
          "or the model fails to run at all.",
      example="up-conv output 56×56 concatenated with an encoder map of 64×64",
      fix="Use 'same' padding in the convolutions so both sides of every skip agree.")
def _sc302(a: Analysis):
    for level, merge_id, origin, src, other, crop in _skip_mismatches(a):
        merge = a.layer(merge_id)
        how = f", cropped by {_name(a, crop)}" if crop is not None else ""
        yield RULES["SC302"].finding(
            f"{merge.name} joins {a.layer(origin).name} at {_size(a, src)} with the decoder at "
            f"{_size(a, other)}{how}",
            [merge.name, a.layer(origin).name] + ([_name(a, crop)] if crop is not None else []),
            level=level)


@rule("SC303", "no-compression", "info",
      "the bottleneck holds as many values as the input, or more",
      why="An autoencoder learns a useful code by squeezing its input; a bottleneck with no "
          "fewer values than the input can learn the identity map.",
      example="input 28×28×1 = 784 values, bottleneck 7×7×32 = 1,568 values",
      fix="Narrow the bottleneck (fewer channels or one more down transition), or use "
          "noise, dropout or sparsity if an over-complete code is intended.")
def _sc303(a: Analysis):
    if not a.is_encoder_decoder or not a.is_reconstruction:
        return
    ratio = a.compression
    if ratio is not None and ratio <= 1:
        bottleneck = a.bottleneck
        assert bottleneck is not None  # a compression ratio needs the bottleneck's size
        yield RULES["SC303"].finding(
            f"the bottleneck holds {a.bottleneck_values:,} values for an input of "
            f"{a.input_values:,} (ratio {ratio:.2f})", [bottleneck.name])


# -- verification (symcheck/verify.py) -------------------------------------------------

@rule("SC901", "shape-disagreement", "error",
      "a shape symcheck inferred differs from the one onnxruntime computes when it runs the model",
      why="Every other finding rests on the inferred shapes. A disagreement means symcheck "
          "misread this model (a bug worth reporting) or relied on a shape the file declares "
          "wrongly; either way the report is wrong there.",
      example="decoder.6: inferred 1×16×16×16, onnxruntime gives 1×16×14×14 (input 28×28)",
      fix="Trust onnxruntime's shape; report the model (or a minimal graph) to symcheck. If "
          "the file's value_info is wrong, re-export the model.")
def _sc901(a: Analysis):
    verification = a.verification  # set by symcheck.verify.attach after the rules ran
    for layer, message in (verification.disagreements() if verification is not None else ()):
        yield RULES["SC901"].finding(message, [layer])


# -- selection ---------------------------------------------------------------------

def _matches(entry: str, code: str, name: str) -> int:
    """Length of the match of a select/ignore entry (0 = no match)."""
    entry = entry.strip()
    if not entry:
        return 0
    if entry == name:
        return 100
    if entry.upper() == "ALL":
        return 1
    return len(entry) if code.startswith(entry.upper()) else 0


def is_selected(code: str, name: str, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> bool:
    """flake8-style selection: the longest matching entry decides.

    >>> is_selected("SC201", "unpaired-layer", ignore=["SC2"])
    False
    >>> is_selected("SC201", "unpaired-layer", select=["SC201"], ignore=["SC2"])
    True
    """
    chosen = max((_matches(e, code, name) for e in select), default=0) if select else 1
    dropped = max((_matches(e, code, name) for e in ignore), default=0)
    return chosen > dropped


def unknown_entries(entries: Sequence[str]) -> list:
    """Entries that match no rule (a typo in --select/--ignore)."""
    bad = []
    for entry in entries:
        if entry.strip().upper() == "ALL":
            continue
        if not any(_matches(entry, r.code, r.name) for r in RULES.values()):
            bad.append(entry)
    return bad


def run_rules(analysis: Analysis, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> list:
    findings: list[Finding] = []
    suppressed = _model_suppressions(analysis)
    for code, r in RULES.items():
        if not is_selected(code, r.name, select, list(ignore) + suppressed):
            continue
        findings.extend(r.check(analysis))
    return findings


def _model_suppressions(analysis: Analysis) -> list:
    """``symcheck:ignore`` in the model's metadata_props: ``SC201,SC204``."""
    for prop in analysis.model.metadata_props:
        if prop.key == "symcheck:ignore":
            return [p.strip() for p in prop.value.split(",") if p.strip()]
    return []
