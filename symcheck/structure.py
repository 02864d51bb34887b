"""Main path, resolution ladder, levels and the pairing of encoder and decoder.

Everything here is decided by shapes and graph structure, never by names:

* the *main path* is the longest path from the analysed input to the
  analysed output (in a U-Net it runs down to the bottleneck and back up;
  skip edges are shortcuts);
* a *transition* changes resolution by an integer factor, an *adjustment* by a
  few pixels; levels count transitions, so encoder level *k* meets decoder
  level *k* however their sizes differ;
* learned layers pair across the U: a decoder layer pairs with the encoder
  layer that writes at the level it reads from and whose channel map it
  inverts; the stem pairs with the head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import networkx as nx

from .dims import Dim, Expr
from .layers import LayerGraph, Layer

NOMINAL = 1024  # stands in for symbolic sizes when a ratio is needed


def nominal(dim: Dim) -> Optional[float]:
    """A number for ``dim``: itself, or the expression at a nominal size."""
    if isinstance(dim, int):
        return dim
    if isinstance(dim, Expr):
        env = {s: NOMINAL if not s.startswith("?") else NOMINAL for s in dim.symbols()}
        try:
            return dim.evaluate(env)
        except KeyError:
            return None
    return None


@dataclass
class Step:
    """One main-path layer and what it does to resolution."""

    layer: int
    role: str  # "down", "up", "adjust" or "keep"
    factor: Optional[float] = None  # per the first spatial axis, for display
    level_in: int = 0
    level_out: int = 0
    side: str = "encoder"  # or "decoder"


@dataclass
class Level:
    index: int
    encoder_size: Optional[tuple] = None
    decoder_size: Optional[tuple] = None
    encoder_width: Optional[Dim] = None
    decoder_width: Optional[Dim] = None
    encoder_layers: list = field(default_factory=list)  # non-transition main-path layers
    decoder_layers: list = field(default_factory=list)
    down: Optional[int] = None  # transition leaving this level downwards
    up: Optional[int] = None  # transition arriving at this level from below


@dataclass
class Pair:
    level: int
    encoder: int
    decoder: int
    how: str  # "stem-head", "inverse", "partial", "position"


@dataclass
class Structure:
    input_id: int
    output_id: int
    path: list  # layer ids, input first, output last
    steps: list  # Step per path layer (input/output excluded)
    levels: list  # Level, index 0 = input resolution
    bottleneck: int  # level index
    split: int  # index into path of the last encoder layer
    pairs: list
    unpaired: list  # learned layer ids without partner
    side: dict  # layer id -> "encoder"/"decoder"
    level_of: dict  # layer id -> level it reads (transitions: (in, out))
    skips: list = field(default_factory=list)  # (merge layer id, source layer id)

    @property
    def downs(self) -> list:
        return [s for s in self.steps if s.role == "down"]

    @property
    def ups(self) -> list:
        return [s for s in self.steps if s.role == "up"]

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(self.downs) and bool(self.ups)


def choose_io(lg: LayerGraph) -> tuple[int, int, str]:
    """The input/output pair to analyse, and why when there was a choice."""
    layers = lg.layers
    spatial_inputs = [i for i in lg.inputs if len(layers[i].out_shape or ()) >= 3]
    inp = (spatial_inputs or lg.inputs)[0]
    in_shape = layers[inp].out_shape
    reachable = nx.descendants(lg.graph, inp)
    candidates = [o for o in lg.outputs if o in reachable] or list(lg.outputs)

    def score(o):
        shape = layers[o].out_shape or ()
        same_rank = len(shape) == len(in_shape or ())
        same_shape = same_rank and tuple(shape[1:]) == tuple((in_shape or ())[1:])
        size = math.prod(nominal(d) or 1 for d in shape[2:]) if len(shape) > 2 else 0
        return (same_shape, same_rank, size, -lg.outputs.index(o))

    out = max(candidates, key=score)
    reasons = []
    if len(lg.inputs) > 1:
        reasons.append(f"input {layers[inp].name!r} is the first with spatial axes")
    if len(candidates) > 1:
        reasons.append(f"output {layers[out].name!r} has the shape closest to the input's")
    return inp, out, "; ".join(reasons)


def longest_path(graph: nx.DiGraph, source: int, target: int) -> list:
    """Longest source->target path in a DAG (iterative, linear time)."""
    between = (nx.descendants(graph, source) | {source}) & (nx.ancestors(graph, target) | {target})
    sub = graph.subgraph(between)
    best: dict = {source: (0, None)}
    for node in nx.topological_sort(sub):
        if node not in best:
            continue
        length = best[node][0]
        for succ in sub.successors(node):
            if succ not in best or best[succ][0] < length + 1:
                best[succ] = (length + 1, node)
    if target not in best:
        return [source, target]
    path, node = [], target
    while node is not None:
        path.append(node)
        node = best[node][1]
    return path[::-1]


def _role(layer: Layer, before: Optional[tuple], after: Optional[tuple]) -> tuple[str, Optional[float]]:
    """down / up / adjust / keep, judged by the sizes before and after."""
    if layer.kind == "flatten":
        return "down", None
    if layer.kind == "unflatten":
        return "up", None
    if before is None or after is None:
        return "keep", None
    if len(before) != len(after) or not before:
        return ("down", None) if len(after) < len(before) else ("keep", None)
    ratios = []
    for a, b in zip(before, after):
        na, nb = nominal(a), nominal(b)
        if na is None or nb is None or na <= 0:
            return "keep", None
        ratios.append(nb / na)
    if all(abs(r - 1) < 1e-9 for r in ratios) and all(a == b for a, b in zip(before, after)):
        return "keep", 1
    big = max(ratios, key=lambda r: abs(math.log(r)) if r > 0 else 0)
    if layer.kind in ("conv", "conv-transpose", "max-pool", "avg-pool", "lp-pool", "pad", "crop") \
            and all(s == 1 for s in layer.attrs.get("stride") or [1]):
        return "adjust", None  # a stride-1 window or a pad/crop moves sizes by a few pixels
    if big >= 1.5:
        factor = _kind_factor(layer, up=True) or round(big)
        return "up", factor
    if big <= 1 / 1.5:
        factor = _kind_factor(layer, up=False) or round(1 / big)
        return "down", factor
    return "adjust", None


def _kind_factor(layer: Layer, up: bool) -> Optional[float]:
    if layer.kind in ("conv", "max-pool", "avg-pool", "lp-pool", "conv-transpose"):
        strides = [s for s in layer.attrs.get("stride") or [] if s > 1]
        return strides[0] if strides else None
    factors = layer.attrs.get("factor") or []
    for f in factors:
        if f is None:
            continue
        if up and f > 1:
            return int(f) if float(f).is_integer() else f
        if not up and f < 1:
            return round(1 / f)
    return None


def spatial_of(layer: Layer) -> Optional[tuple]:
    shape = layer.out_shape
    if shape is None or len(shape) < 3:
        return None if shape is None else ()
    return tuple(shape[2:])


def analyse_structure(lg: LayerGraph) -> Structure:
    layers = lg.layers
    inp, out, _ = choose_io(lg)
    path = longest_path(lg.graph, inp, out)
    steps: list[Step] = []
    level = 0
    prev = spatial_of(layers[path[0]])
    for lid in path[1:-1]:
        layer = layers[lid]
        after = spatial_of(layer)
        role, factor = _role(layer, prev, after)
        step = Step(lid, role, factor, level_in=level)
        if role == "down":
            level += 1
        elif role == "up":
            level -= 1
        step.level_out = level
        steps.append(step)
        if after is not None:
            prev = after
    deepest = max([0] + [s.level_out for s in steps])
    split = 0
    for i, s in enumerate(steps):
        if s.level_out == deepest and s.role == "down":
            split = i
            break
    side = {}
    for i, s in enumerate(steps):
        s.side = "encoder" if i <= split and deepest > 0 else "decoder"
        side[s.layer] = s.side
    _side_off_path(lg, path, side)

    levels = [Level(k) for k in range(deepest + 1)]
    level_of: dict = {}
    prev_layer = layers[path[0]]
    for s in steps:
        layer = layers[s.layer]
        if s.role in ("down", "up"):
            level_of[s.layer] = (s.level_in, s.level_out)
            if s.role == "down" and s.side == "encoder" and 0 <= s.level_in < len(levels):
                lv = levels[s.level_in]
                lv.down = s.layer
                lv.encoder_size = spatial_of(prev_layer)
                lv.encoder_width = prev_layer.channels
            if s.role == "up" and s.side == "decoder" and 0 <= s.level_out < len(levels):
                lv = levels[s.level_out]
                lv.up = s.layer
                lv.decoder_size = spatial_of(layer)
                lv.decoder_width = layer.channels
        else:
            level_of[s.layer] = s.level_in
            if 0 <= s.level_in < len(levels):
                target = levels[s.level_in]
                (target.encoder_layers if s.side == "encoder" else target.decoder_layers).append(s.layer)
        prev_layer = layer
    if levels:
        bottom = levels[-1]
        bottom.encoder_size = bottom.decoder_size = _bottleneck_size(lg, steps, split)
    structure = Structure(inp, out, path, steps, levels, deepest, split, [], [], side, level_of)
    structure.skips = _skips(lg, structure)
    _pair(lg, structure)
    return structure


def _bottleneck_size(lg: LayerGraph, steps: list, split: int) -> Optional[tuple]:
    if not steps:
        return None
    return spatial_of(lg.layers[steps[split].layer])


def _side_off_path(lg: LayerGraph, path: list, side: dict) -> None:
    """Layers off the main path take the side of their main-path ancestor."""
    for lid in nx.topological_sort(lg.graph):
        if lid in side or lid in path:
            continue
        preds = [side[p] for p in lg.graph.predecessors(lid) if p in side]
        if preds:
            side[lid] = "decoder" if "decoder" in preds else "encoder"


def _skips(lg: LayerGraph, st: Structure) -> list:
    """Merges on the decoder side fed from the encoder side: skip connections."""
    skips = []
    on_path = set(st.path)
    for lid in st.path:
        layer = lg.layers[lid]
        if layer.kind not in ("concat", "add", "mul", "sub") or st.side.get(lid) != "decoder":
            continue
        for src in layer.inputs:
            if src in on_path and st.side.get(src) == "encoder":
                skips.append((lid, src))
            elif src not in on_path:
                origin = _encoder_origin(lg, st, src)
                if origin is not None:
                    skips.append((lid, origin))
    return skips


def _encoder_origin(lg: LayerGraph, st: Structure, lid: int) -> Optional[int]:
    seen = set()
    stack = [lid]
    while stack:
        cur = stack.pop()
        if cur in seen:
            continue
        seen.add(cur)
        if st.side.get(cur) == "encoder" and cur in st.path:
            return cur
        stack.extend(lg.graph.predecessors(cur))
    return None


def _pair(lg: LayerGraph, st: Structure) -> None:
    layers = lg.layers
    learned = [s for s in st.steps if layers[s.layer].learned]
    enc = [s for s in learned if s.side == "encoder"]
    dec = [s for s in learned if s.side == "decoder"]
    pairs: list[Pair] = []
    used: set = set()
    if enc and dec and st.bottleneck > 0:
        stem, head = enc[0], dec[-1]
        pairs.append(Pair(0, stem.layer, head.layer, "stem-head"))
        used |= {stem.layer, head.layer}

    def writes(s: Step) -> int:
        return s.level_out

    def reads(s: Step) -> int:
        return s.level_in

    for level in range(st.bottleneck + 1):
        e_here = [s.layer for s in enc if writes(s) == level and s.layer not in used]
        d_here = [s.layer for s in dec if reads(s) == level and s.layer not in used]
        for how, test in (("inverse", _inverse), ("partial", _partial), ("position", lambda e, d: True)):
            for d in list(d_here):
                for e in reversed(e_here):
                    if test(layers[e], layers[d]):
                        pairs.append(Pair(level, e, d, how))
                        e_here.remove(e)
                        d_here.remove(d)
                        used |= {e, d}
                        break
    st.pairs = sorted(pairs, key=lambda p: (p.level, st.path.index(p.encoder)))
    st.unpaired = [s.layer for s in learned if s.layer not in used]


def _inverse(e: Layer, d: Layer) -> bool:
    return e.in_channels == d.channels and e.channels == d.in_channels


def _partial(e: Layer, d: Layer) -> bool:
    return e.channels == d.in_channels or e.in_channels == d.channels


# ---------------------------------------------------------------------------
# Evaluating the ladder at other input sizes

def evaluate_axis(lg: LayerGraph, order: list, input_id: int, axis: int, size: int) -> dict:
    """Size of every layer's output along spatial ``axis`` for input ``size``.

    Values are ints, ``None`` for layers without that axis (dense), or the
    string ``"invalid"`` where the model cannot run (a merge of different
    sizes, a dense layer fed another size, a size below 1).
    """
    sizes: dict = {}
    layers = lg.layers
    for lid in order:
        layer = layers[lid]
        if lid == input_id:
            sizes[lid] = size
            continue
        if layer.kind == "input":
            sizes[lid] = None
            continue
        ins = [sizes.get(i) for i in layer.inputs]
        if any(v == "invalid" for v in ins):
            sizes[lid] = "invalid"
            continue
        spatial_ins = [v for v in ins if isinstance(v, int)]
        if layer.kind in ("concat", "add", "mul", "sub", "max", "min", "mean", "sum", "where"):
            if len(set(spatial_ins)) > 1:
                sizes[lid] = "invalid"
                continue
        x = spatial_ins[0] if spatial_ins else None
        transfer = layer.transfer[axis] if axis < len(layer.transfer) else None
        if not layer.transfer and layer.kind not in ("output",):
            sizes[lid] = None  # no spatial axes (dense, after flatten)
            continue
        sizes[lid] = _apply(transfer, x, sizes)
    return sizes


def _apply(transfer, x, sizes):
    if transfer is None:
        return None
    if isinstance(transfer, int):
        return transfer
    if isinstance(transfer, tuple) and transfer and transfer[0] == "fixed":
        return transfer[2] if x == transfer[1] else "invalid"
    if isinstance(transfer, tuple) and transfer and transfer[0] == "match":
        value = sizes.get(transfer[1])
        return value
    if x is None:
        return None
    out = transfer.evaluate({"x": x}) if isinstance(transfer, Expr) else None
    if out is None or out < 1:
        return "invalid"
    return out


@dataclass
class RoundTrip:
    """Which sizes give back their input along one axis."""

    axis: int
    modulus: Optional[int]
    residues: tuple
    minimum: Optional[int]
    only: Optional[tuple]  # when a finite set of sizes works (dense bottleneck)
    examples: dict  # size -> output size or "invalid"
    unknown: bool = False

    def holds(self, size: int, lg=None) -> bool:
        if self.only is not None:
            return size in self.only
        if self.modulus is None:
            return False
        return size >= (self.minimum or 1) and size % self.modulus in self.residues


def round_trip(lg: LayerGraph, st: Structure, axis: int, limit: int = 512) -> RoundTrip:
    order = [n for n in nx.topological_sort(lg.graph)]
    factor = 1
    for s in st.downs:
        factor *= int(s.factor) if isinstance(s.factor, (int, float)) and s.factor and s.factor >= 1 else 2
    span = max(4 * factor, 64)
    top = min(max(span * 3, 96), limit)
    results = {}
    for h in range(1, top + 1):
        sizes = evaluate_axis(lg, order, st.input_id, axis, h)
        results[h] = sizes.get(st.output_id)
    if all(v is None for v in results.values()):
        return RoundTrip(axis, None, (), None, None, {}, unknown=True)
    ok = [h for h, v in results.items() if v == h]
    examples = {h: v for h, v in results.items()}
    if not ok:
        return RoundTrip(axis, None, (), None, None, examples)
    if len(ok) <= 2 and ok[-1] < top // 2:
        return RoundTrip(axis, None, (), None, tuple(ok), examples)
    start = ok[0]
    okset = set(ok)
    for m in range(1, top // 3 + 1):
        residues = tuple(sorted({h % m for h in ok}))
        if all((h % m in residues) == (h in okset) for h in range(start, top + 1)):
            return RoundTrip(axis, m, residues, start, None, examples)
    return RoundTrip(axis, None, (), None, tuple(ok), examples)
