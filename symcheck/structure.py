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

import functools
import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Optional, Sequence


from .dims import Dim, Expr
from .digraph import Digraph
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
    encoder_width: Optional[Dim] = None  # channels entering the down transition
    decoder_width: Optional[Dim] = None  # channels the up transition delivers
    encoder_widths: set = field(default_factory=set)  # every channel count at this level
    decoder_widths: set = field(default_factory=set)
    encoder_layers: list = field(default_factory=list)  # non-transition main-path layers
    decoder_layers: list = field(default_factory=list)
    down: Optional[int] = None  # transition leaving this level downwards
    up: Optional[int] = None  # transition arriving at this level from below


@dataclass
class Pair:
    level: int
    encoder: int
    decoder: int
    how: str  # "stem-head", "transition", "inverse", "across", "partial", "skip"


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

    @functools.cached_property
    def on_path(self) -> frozenset:
        return frozenset(self.path)

    # steps are fixed once the structure is built: computed once, read per table row
    @functools.cached_property
    def downs(self) -> list:
        return [s for s in self.steps if s.role == "down"]

    @functools.cached_property
    def ups(self) -> list:
        return [s for s in self.steps if s.role == "up"]

    @functools.cached_property
    def up_levels(self) -> int:
        """How many levels the up transitions return (a ×8 resize after three ×2 downs: 3)."""
        return sum(s.level_in - s.level_out for s in self.ups)

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(self.downs) and bool(self.ups)


def choose_io(lg: LayerGraph) -> tuple[int, int, str]:
    """The input/output pair to analyse, and why when there was a choice (worked out
    once per layer graph)."""
    if lg._io is not None:
        return lg._io
    lg._io = _choose_io(lg)
    return lg._io


def _choose_io(lg: LayerGraph) -> tuple[int, int, str]:
    layers = lg.layers
    spatial_inputs = [i for i in lg.inputs if len(layers[i].out_shape or ()) >= 3]
    inp = (spatial_inputs or lg.inputs)[0]
    in_shape = layers[inp].out_shape
    reachable = lg.dag.descendants(inp)
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


STRUCTURAL = {"conv", "conv-transpose", "dense", "max-pool", "avg-pool", "lp-pool", "global-pool",
              "upsample", "downsample", "pixel-shuffle", "space-to-depth", "flatten", "unflatten",
              "concat", "add", "pad", "crop", "reshape"}


def longest_path(graph: Digraph, source: int, target: int, layers: Optional[dict] = None,
                 blocked: frozenset = frozenset()) -> list:
    """Longest source->target path in a DAG (iterative, linear time).

    With ``layers``, only structural layers (convs, transitions, merges) count,
    so a VAE's log-variance branch with its extra exp/scale ops does not
    outweigh the mean branch; ties go to the earlier-built predecessor. A path
    enters a merge through an input the merge stretches over its spatial axes
    (a squeeze-and-excitation gate, ``Layer.broadcast``) only where no other
    path does: the fewest such entries first, then the longest. The path does
    not use the ``blocked`` edges ``(u, v)`` (side branches, see
    :func:`side_branch_edges`) unless the target cannot be reached without them.

    >>> g = Digraph()
    >>> for u, v in [(0, 1), (1, 2), (2, 3), (0, 3)]:
    ...     g.add_edge(u, v)
    >>> longest_path(g, 0, 3), longest_path(g, 0, 3, blocked=frozenset({(2, 3)}))
    ([0, 1, 2, 3], [0, 3])
    """
    # One pass in the whole graph's (remembered) topological order: a node's best is
    # final when it is reached, and the answer does not depend on the order, since a
    # tie always goes to the smaller predecessor id whichever is seen first.
    best: dict = {source: (0, 0, None)}  # (-stretched entries, length, predecessor)
    for node in graph.topological_sort():
        found = best.get(node)
        if found is None:
            continue  # not reachable from the source
        if node == target:
            break
        stretched, length = found[0], found[1]
        for succ in graph.successors(node):
            if blocked and (node, succ) in blocked:
                continue
            weight = 1 if layers is None or layers[succ].kind in STRUCTURAL else 0
            penalty = 1 if layers is not None and node in getattr(layers[succ], "broadcast", ()) else 0
            candidate = (stretched - penalty, length + weight, node)
            known = best.get(succ)
            if known is None or known[:2] < candidate[:2] or (
                    known[:2] == candidate[:2] and node < known[2]):
                best[succ] = candidate
    if target not in best:
        return longest_path(graph, source, target, layers) if blocked else [source, target]
    path, node = [], target
    while node is not None:
        path.append(node)
        node = best[node][2]
    return path[::-1]


def side_branch_edges(lg: LayerGraph, limit: int = 256) -> frozenset:
    """Edges ``(u, m)`` into a merge ``m`` from a branch that only modulates m's other input.

    The main path does not run through them (:func:`longest_path`). Judged by
    shapes and graph structure, two cases:

    * a multiplicative gate: an operand a Mul stretches over another
      operand's channel or spatial axes (``Layer.broadcast``: an attention
      gate's 1-channel map, a squeeze-excitation's 1×1 vector); the full-size
      operand carries the data;
    * a global-pool branch that is merged back at the resolution it pooled:
      from a global pool, the first merge where the branch meets a tensor of
      the pooled tensor's size (ASPP's image-level feature, upsampled and
      concatenated with the atrous branches).

    Each global-pool branch is followed for at most ``limit`` layers.
    """
    layers = lg.layers
    blocked: set = set()
    pools = []
    for lid, layer in layers.items():
        if layer.kind == "global-pool":
            pools.append(lid)
        elif layer.kind == "mul" and layer.broadcast and len(layer.broadcast) < len(set(layer.inputs)):
            blocked.update((u, lid) for u in layer.broadcast)  # the merge's stretched inputs
    if pools:
        position = {lid: i for i, lid in enumerate(lg.dag.topological_sort())}
        for pool in pools:
            blocked |= _pool_branch_edges(lg, pool, position, limit)
    return frozenset(blocked)


def _pool_branch_edges(lg: LayerGraph, pool: int, position: dict, limit: int) -> set:
    """The edges by which a global pool's branch rejoins a tensor of the pooled size."""
    layers = lg.layers
    inputs = layers[pool].inputs
    pooled = spatial_of(layers[inputs[0]]) if inputs else None
    if not pooled:
        return set()
    branch = {pool}
    heap = [(position[s], s) for s in lg.dag.successors(pool)]
    heapq.heapify(heap)
    edges: set = set()
    while heap and len(branch) < limit:
        _, lid = heapq.heappop(heap)
        if lid in branch:
            continue
        layer = layers[lid]
        outside = [i for i in layer.inputs if i not in branch]
        if outside and layer.kind in MERGE_KINDS:
            # the branch rejoins here; in topological order every branch input is already seen
            if any(spatial_of(layers[i]) == pooled for i in outside):
                edges.update((i, lid) for i in layer.inputs if i in branch)
            continue
        branch.add(lid)
        for s in lg.dag.successors(lid):
            heapq.heappush(heap, (position[s], s))
    return edges


def _role(layer: Layer, before: Optional[tuple], after: Optional[tuple]) -> tuple[str, Optional[float]]:
    """down / up / adjust / keep, judged by the sizes before and after."""
    if layer.kind == "flatten":
        return "down", None
    if layer.kind == "unflatten":
        return "up", None
    if before is None or after is None:
        return "keep", None
    if before == after and before and all(type(d) is int and d > 0 for d in before):
        return "keep", 1  # the usual step: same static size (what the ratios below would say)
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
            return round(f)  # a resize 3→7 is a ×2 transition plus a fix-up (SC103)
        if not up and f < 1:
            return round(1 / f)
    return None


def axis_factors(layer: Layer, step: Step) -> list:
    """The integer factor of a transition along each spatial axis (1 where it keeps the size)."""
    spatial = len(layer.transfer) or len(layer.attrs.get("factor") or [])
    factors = layer.attrs.get("factor") or []
    fallback = step.factor if isinstance(step.factor, int) else 1
    if layer.kind in ("upsample", "downsample", "pixel-shuffle", "space-to-depth") and factors:
        return [fallback if f is None else max(round(f), 1) if f >= 1 else max(round(1 / f), 1)
                for f in factors]
    strides = layer.attrs.get("stride") or []
    if strides:
        return [int(s) for s in strides]
    factor = step.factor if isinstance(step.factor, int) else 1
    return [factor] * spatial


def spatial_of(layer: Layer) -> Optional[tuple]:
    """The spatial sizes a layer's output lives at: its shape's; inside a layout
    detour (``Layer.grid``) the grid its values stay on; ``()`` for a vector; None
    when unknown or when its axes are not an image's (attention's products, see
    ``Layer.untracked``)."""
    if layer.grid is not None:
        return layer.grid
    if layer.untracked:
        return None
    shape = layer.out_shape
    if shape is None or len(shape) < 3:
        return None if shape is None else ()
    return tuple(shape[2:])


def spatial_in(layers: dict, layer: Layer) -> Optional[tuple]:
    """The spatial size ``layer`` reads: its first input's, and for a merge its first
    input that it does not stretch (the map, not a squeeze-and-excitation gate)."""
    ids = [i for i in layer.inputs if i not in layer.broadcast] or layer.inputs
    return spatial_of(layers[ids[0]]) if ids else None


def analyse_structure(lg: LayerGraph) -> Structure:
    layers = lg.layers
    inp, out, _ = choose_io(lg)
    path = longest_path(lg.dag, inp, out, lg.layers, blocked=side_branch_edges(lg))
    steps: list[Step] = []
    level = 0
    prev = spatial_of(layers[path[0]])
    below: list = []  # the factors of the down transitions not yet undone, latest last
    for lid in path[1:-1]:
        layer = layers[lid]
        after = spatial_of(layer)
        role, factor = _role(layer, prev, after)
        step = Step(lid, role, factor, level_in=level)
        if role == "down":
            level += 1
            below.append(factor)
        elif role == "up":
            span = _up_span(factor, below)
            level -= span
            del below[len(below) - span:]
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
    if steps and spatial_of(layers[steps[split].layer]) == ():
        # a dense bottleneck: the latent is the narrowest vector before the way back up
        split = _middle_dense(layers, steps, split, deepest)
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
    for s in steps[:-1]:  # channel counts living at each level, per side (not the image's own)
        if 0 <= s.level_out < len(levels) and _on_its_grid(layers[s.layer]):
            lv = levels[s.level_out]
            (lv.encoder_widths if s.side == "encoder" else lv.decoder_widths).add(layers[s.layer].channels)
    structure = Structure(inp, out, path, steps, levels, deepest, split, [], [], side, level_of)
    structure.skips = _skips(lg, structure)
    _pair(lg, structure)
    return structure


def _up_span(factor: Optional[float], below: list) -> int:
    """How many levels an up transition returns: one, or k when its factor is the
    product of the last k down factors (DeepLab's single ×8 resize after three ×2).

    >>> _up_span(2, [2, 2, 2]), _up_span(8, [2, 2, 2]), _up_span(4, [2, 4]), _up_span(3, [2, 2])
    (1, 3, 1, 1)
    """
    if not isinstance(factor, (int, float)):
        return 1
    product: float = 1
    for k in range(1, len(below) + 1):
        f = below[-k]
        if not isinstance(f, (int, float)):
            break
        product *= f
        if k > 1 and product == factor:
            return k
        if product >= factor:
            break
    return 1


def _on_its_grid(layer: Layer) -> bool:
    """False inside a layout detour where the tensor is regrouped: its axis 1 holds no channels."""
    grid, shape = layer.grid, layer.out_shape
    return grid is None or (shape is not None and tuple(shape[2:]) == grid)


def _middle_dense(layers: dict, steps: list, split: int, deepest: int) -> int:
    """The latent of a dense bottleneck: the middle dense layer between flatten and unflatten.

    flatten → fc_mu → (sampling) → fc_dec → unflatten gives fc_mu; four dense
    layers 256→64→16→64→256 give the second. Falls back to the flatten.
    """
    dense = []
    for i in range(split + 1, len(steps)):
        step = steps[i]
        if step.level_out != deepest or step.role == "up":
            break
        if layers[step.layer].kind == "dense":
            dense.append(i)
    if not dense:
        return split
    return dense[(len(dense) - 1) // 2]


def _bottleneck_size(lg: LayerGraph, steps: list, split: int) -> Optional[tuple]:
    if not steps:
        return None
    return spatial_of(lg.layers[steps[split].layer])


def _side_off_path(lg: LayerGraph, path: list, side: dict) -> None:
    """Layers off the main path take the side of their main-path ancestor.

    A layer with ancestors on both sides is the decoder's, and so is an up
    transition and what follows it (U-Net++'s nested nodes X^{0,1}, X^{0,2}
    upsample the level below: they are decoders of their own). So is a branch from
    the encoder whose every consumer is a decoder layer off the main path: it is
    computed for the decoder's own side branch (an attention gate's 1×1 conv of
    the skip, added to the decoder's before the gate multiplies the skip). A
    branch that goes straight into a main-path merge (a skip's crop) keeps the
    encoder's side.
    """
    on_path = set(path)
    order = lg.dag.topological_sort()
    for lid in order:
        if lid in side or lid in on_path:
            continue
        preds = [side[p] for p in lg.dag.predecessors(lid) if p in side]
        if preds:
            layer = lg.layers[lid]
            before = spatial_of(lg.layers[layer.inputs[0]]) if layer.inputs else None
            up = _role(layer, before, spatial_of(layer))[0] == "up"
            side[lid] = "decoder" if "decoder" in preds or up else "encoder"
    for lid in reversed(order):
        if lid in on_path or side.get(lid) != "encoder":
            continue
        consumers = list(lg.dag.successors(lid))
        if consumers and all(c not in on_path and side.get(c) == "decoder" for c in consumers):
            side[lid] = "decoder"


def _skips(lg: LayerGraph, st: Structure) -> list:
    """Merges on the decoder side fed from the encoder side: skip connections.

    One entry per (merge, encoder source): U-Net++'s nested nodes X^{0,1},
    X^{0,2} all trace back to X^{0,0}.
    """
    skips: list = []
    found: set = set()
    on_path = st.on_path
    index = {lid: i for i, lid in enumerate(st.path)}
    for lid in st.path:
        layer = lg.layers[lid]
        level = st.level_of.get(lid)
        if layer.kind not in ("concat", "add", "mul", "sub") or st.side.get(lid) != "decoder":
            continue
        if not isinstance(level, int) or level >= st.bottleneck:
            continue  # a merge at the bottleneck (VAE sampling, conditioning) is no skip
        main_pred = st.path[index[lid] - 1]
        for src in layer.inputs:
            if src == main_pred:
                continue
            origin = src if src in on_path else _encoder_origin(lg, st, src)
            if origin is not None and st.side.get(origin) == "encoder" and (lid, origin) not in found:
                found.add((lid, origin))
                skips.append((lid, origin))
    return skips


def _encoder_origin(lg: LayerGraph, st: Structure, lid: int) -> Optional[int]:
    """The main-path encoder layer an off-path skip input comes from, traced at its resolution.

    Walks back breadth-first from ``lid`` through layers off the main path (a
    crop, a 1×1 projection, an attention gate's multiply, U-Net++'s nested
    nodes) to the nearest encoder layer on the main path. It never walks back
    across a transition (an upsample, a pool, a strided conv): a tensor that
    came from another resolution is not the skip's source. Adjustments (a
    crop, a pad) are crossed: the original U-Net's crop is part of its skip.
    """
    layers = lg.layers
    on_path = st.on_path
    seen = {lid}
    queue = deque([lid])
    while queue:
        cur = queue.popleft()
        if cur in on_path:
            if st.side.get(cur) == "encoder":
                return cur
            continue
        layer = layers[cur]
        after = spatial_of(layer)
        for pred in lg.dag.predecessors(cur):
            if pred in seen or _role(layer, spatial_of(layers[pred]), after)[0] in ("down", "up"):
                continue
            seen.add(pred)
            queue.append(pred)
    return None


def _pair(lg: LayerGraph, st: Structure) -> None:
    layers = lg.layers
    learned = [s for s in st.steps if layers[s.layer].learned]
    enc = [s for s in learned if s.side == "encoder"]
    dec = [s for s in learned if s.side == "decoder"]
    pairs: list[Pair] = []
    used: set = set()
    if not st.is_encoder_decoder:
        st.pairs, st.unpaired = [], []
        return
    if enc and dec and st.bottleneck > 0:
        stem, head = enc[0], dec[-1]
        pairs.append(Pair(0, stem.layer, head.layer, "stem-head"))
        used |= {stem.layer, head.layer}

    # Learned transitions pair across the same two levels (strided conv ↔ transposed
    # conv, conv + pixel shuffle), whatever their channel maps: a decoder whose widths
    # are shifted by an extra layer at the bottleneck (a conv VAE's 8→64 first
    # transposed conv) still mirrors the encoder's resolutions step by step.
    downs: dict = {}
    for e in enc:
        if e.role == "down" and e.layer not in used:
            downs.setdefault((e.level_in, e.level_out), []).append(e.layer)
    for d in dec:
        if d.role == "up" and d.layer not in used:
            found = downs.get((d.level_out, d.level_in))
            if found:
                e_id = found.pop()  # the latest down transition across those levels
                pairs.append(Pair(d.level_in, e_id, d.layer, "transition"))
                used.update((e_id, d.layer))

    def writes(s: Step) -> int:
        return s.level_out

    def reads(s: Step) -> int:
        return s.level_in

    # Candidates for a decoder layer: encoder layers that write the level it
    # reads; a learned up-transition (reading L+1, writing L) may also mirror
    # an encoder layer writing L, when no extra layer shifts the decoder.
    # Encoder layers indexed by the level they write and their channel map,
    # latest first: each decoder layer finds its partner by lookup.
    index: dict = {}
    for e in reversed(enc):
        le = layers[e.layer]
        lv = writes(e)
        for key in (("inverse", lv, le.in_channels, le.channels), ("out", lv, le.channels),
                    ("in", lv, le.in_channels)):
            index.setdefault(key, []).append(e.layer)
        if e.role == "down":  # a strided conv from level L to L+1, by the level it reads
            index.setdefault(("across", e.level_in, le.in_channels, le.channels), []).append(e.layer)

    def take(key) -> Optional[int]:
        bucket = index.get(key)
        while bucket and bucket[0] in used:
            bucket.pop(0)
        return bucket[0] if bucket else None

    def partner(d: Step, how: str, adjacent: bool) -> Optional[int]:
        ld = layers[d.layer]
        levels = [d.level_out] if adjacent else [reads(d)]
        if adjacent and d.role != "up":
            return None
        for lv in levels:
            if how == "inverse":
                found = take(("inverse", lv, ld.channels, ld.in_channels))
            elif how == "across":
                # a conv after a fixed upsampling to level L inverts the strided conv that
                # took level L to L+1 (strided convs down, upsample + conv up)
                found = take(("across", lv, ld.channels, ld.in_channels)) if d.role != "up" else None
            else:  # partial: the encoder writes what the decoder reads, or reads what it writes
                found = take(("out", lv, ld.in_channels))
                found = found if found is not None else take(("in", lv, ld.channels))
            if found is not None:
                return found
        return None

    # Layers with no channel relation to any encoder layer at their level stay
    # unpaired (SC201) rather than being matched by position.
    for how, adjacent in (("inverse", False), ("inverse", True), ("across", False), ("partial", False),
                          ("partial", True)):
        for d in dec:
            if d.layer in used:
                continue
            e = partner(d, how, adjacent)
            if e is not None:
                pairs.append(Pair(reads(d), e, d.layer, how))
                used.update((e, d.layer))
    # A decoder layer that reads a skip merge exists because of the skip: it
    # pairs with the skip's encoder source (the skip is the mirror evidence),
    # when that source writes the level the layer reads. Each source gives one
    # skip pair, besides the partner its channel map found above.
    skip_sources: dict = {}
    for merge, src in st.skips:
        skip_sources.setdefault(merge, []).append(src)
    skip_paired: set = set()
    for s in dec:
        if s.layer in used:
            continue
        found = next((src for merge in layers[s.layer].inputs for src in skip_sources.get(merge, ())
                      if src not in skip_paired and _writes(st, src) == s.level_in), None)
        if found is not None:
            pairs.append(Pair(s.level_in, found, s.layer, "skip"))
            used.update((s.layer, found))  # the source has its counterpart: not SC201
            skip_paired.add(found)
    position = {lid: i for i, lid in enumerate(st.path)}
    st.pairs = sorted(pairs, key=lambda p: (p.level, position.get(p.encoder, 0)))
    st.unpaired = [s.layer for s in learned if s.layer not in used]


def _writes(st: Structure, lid: int) -> Optional[int]:
    """The level a main-path layer writes (a transition writes the level it goes to)."""
    level = st.level_of.get(lid)
    return level[1] if isinstance(level, tuple) else level


def _partial(e: Layer, d: Layer) -> bool:
    return e.channels == d.in_channels or e.in_channels == d.channels


# ---------------------------------------------------------------------------
# Evaluating the ladder at other input sizes

INVALID = -1  # the model cannot run at this size (merge of unequal sizes, dense fed another size)
NO_AXIS = -2  # the layer has no spatial axes (dense, after flatten)
UNKNOWN = -3  # the transfer function is unknown


@functools.lru_cache(maxsize=4096)
def _compiled(transfer: Expr):
    """A Python function of ``x`` (an int) for a transfer expression."""
    if transfer.symbols() - {"x"}:
        raise ValueError("transfer functions depend on x only")
    return eval(f"lambda x: {transfer.to_source()}", {"__builtins__": {}})  # noqa: S307 - our own code


def evaluate_sizes(lg: LayerGraph, order: list, input_id: int, axis: int, sizes: Sequence[int]) -> dict:
    """Every layer's output size along spatial ``axis`` for each input size in ``sizes``.

    One list per layer, of sizes or :data:`INVALID`, :data:`NO_AXIS`,
    :data:`UNKNOWN`. Linear in the number of layers; most layers keep their
    input's size and share its list (lists are never changed once made), so
    the per-size work is done only at the layers that resize or merge.
    Plain lists, not numpy: importing numpy would be a quarter of a small
    model's run.
    """
    out: dict = {}
    layers = lg.layers
    n = len(sizes)
    no_axis = [NO_AXIS] * n
    for lid in order:
        layer = layers[lid]
        if lid == input_id:
            out[lid] = list(sizes)
            continue
        if layer.kind == "input":
            out[lid] = no_axis
            continue
        ins = [out[i] for i in layer.inputs if i in out]
        transfer = layer.transfer[axis] if axis < len(layer.transfer) else None
        if ins and transfer == _IDENTITY and all(v is ins[0] for v in ins):
            # most layers, and residual merges of two paths that kept the same sizes:
            # the input's sizes, as they are
            out[lid] = ins[0]
            continue
        spatial = [v for v in ins if v is not no_axis and v.count(NO_AXIS) != n]
        if not layer.transfer and layer.kind != "output":
            result = no_axis
            for v in spatial:
                if INVALID in v:
                    result = [INVALID if e == INVALID else r for e, r in zip(v, result)]
            out[lid] = result
            continue
        x = spatial[0] if spatial else no_axis
        bad: Optional[list] = None  # per size: the layer cannot run (None: at no size)
        for v in ins:
            if INVALID in v:
                bad = [e == INVALID for e in v] if bad is None else \
                    [b or e == INVALID for b, e in zip(bad, v)]
        if len(spatial) > 1 and layer.kind in BROADCAST_KINDS:
            # numpy's rules: a size 1 stretches over the other's (an SE gate over H×W);
            # two sizes other than 1 must agree
            x = [_broadcast_sizes(sizes) for sizes in zip(*spatial)]
        elif len(spatial) > 1 and layer.kind in MERGE_KINDS:
            for v in spatial[1:]:
                if v is not x:  # a merge of unequal sizes cannot run
                    unequal = [e != a and e >= 0 and a >= 0 for e, a in zip(v, x)]
                    bad = unequal if bad is None else [b or u for b, u in zip(bad, unequal)]
        result = _apply(transfer, x, out, n)
        if layer.kind == "space-to-depth":
            bad = _not_multiples(layer, axis, x, bad)
        if bad is not None:
            result = [INVALID if b and a != UNKNOWN else r for b, a, r in zip(bad, x, result)]
        if UNKNOWN in x:
            result = [UNKNOWN if a == UNKNOWN and r >= 0 else r for a, r in zip(x, result)]
        out[lid] = result
    return out


def block_size(layer: Layer, axis: int) -> Optional[int]:
    """A space-to-depth layer's block along spatial ``axis`` (its factor is 1/block)."""
    factors = layer.attrs.get("factor") or ()
    if layer.kind != "space-to-depth" or axis >= len(factors) or not factors[axis] or factors[axis] >= 1:
        return None
    return round(1 / factors[axis])


def _not_multiples(layer: Layer, axis: int, x: list, bad: Optional[list]) -> Optional[list]:
    """``bad`` with the sizes a space-to-depth cannot run at added: ONNX's SpaceToDepth
    and the reshape an exporter writes for it need a multiple of the block size
    (onnxruntime refuses 31 for a block of 2; no rounding down happens)."""
    block = block_size(layer, axis)
    if block is None:
        return bad
    cannot = [e > 0 and e % block != 0 for e in x]
    return cannot if bad is None else [b or c for b, c in zip(bad, cannot)]


MERGE_KINDS = {"concat", "add", "mul", "sub", "max", "min", "mean", "sum", "where", "div"}
BROADCAST_KINDS = MERGE_KINDS - {"concat"}  # elementwise: sizes broadcast


def _broadcast_sizes(sizes: tuple) -> int:
    """The size an elementwise merge gives for its inputs' ``sizes`` at one input size:
    the one size other than 1 they share, 1 when all are 1, :data:`INVALID` when two
    differ; an unknown size leaves it unknown unless a known one other than 1 decides."""
    if INVALID in sizes:
        return INVALID
    known = {s for s in sizes if s > 0 and s != 1}
    if len(known) > 1:
        return INVALID
    if known:
        return known.pop()
    if UNKNOWN in sizes:
        return UNKNOWN
    return 1 if 1 in sizes else NO_AXIS


_IDENTITY = Expr.symbol("x")


def _apply(transfer, x: list, out: dict, n: int) -> list:
    """One layer's transfer at every size of its input ``x`` (sentinels pass through)."""
    if transfer == _IDENTITY:  # most layers keep the size: no work
        return x
    if transfer is None:
        return [UNKNOWN] * n
    if isinstance(transfer, int):
        return [transfer] * n
    if isinstance(transfer, tuple) and transfer[0] == "fixed":
        # an input without a tracked axis (a gate computed through index gathers) cannot
        # be checked against the size the layer takes: its fixed output, as at that size
        return [transfer[2] if e == transfer[1] or e == NO_AXIS else INVALID for e in x]
    if isinstance(transfer, tuple) and transfer[0] == "match":
        return out.get(transfer[1], [UNKNOWN] * n)
    try:
        f = _compiled(transfer)
        values = [e if e < 0 else f(e) for e in x]
    except (ValueError, TypeError, ArithmeticError, SyntaxError, RecursionError, MemoryError):
        return [UNKNOWN] * n
    return [v if v >= 1 or e < 0 else INVALID for e, v in zip(x, values)]


def plain_size(value: Optional[int]):
    """A size from :func:`evaluate_sizes` as reports give it: the size, ``"invalid"``, or
    None (no spatial axis, unknown, or not evaluated)."""
    return "invalid" if value == INVALID else None if value is None or value < 0 else value


def evaluate_axis(lg: LayerGraph, order: list, input_id: int, axis: int, size: int) -> dict:
    """Scalar form of :func:`evaluate_sizes`: layer id -> size, ``"invalid"`` or None."""
    result: dict = {}
    for lid, values in evaluate_sizes(lg, order, input_id, axis, [size]).items():
        v = values[0]
        result[lid] = plain_size(v)
    return result


@dataclass
class RoundTrip:
    """Which input sizes along one axis run, and which give back their size."""

    axis: int
    modulus: Optional[int]  # round-trip sizes: h >= minimum and h % modulus in residues
    residues: tuple
    minimum: Optional[int]
    only: Optional[tuple]  # when a finite set of sizes round-trips (dense bottleneck)
    examples: dict = field(repr=False)  # size -> output size, "invalid" or None
    unknown: bool = False
    runs: Optional[tuple] = None  # (modulus, residues, minimum) of the sizes that run
    offset: Optional[int] = None  # output - input, when constant over the sizes that run
    #: every layer's size along the axis for input sizes 1, 2, ... (evaluate_sizes' lists)
    layer_sizes: Optional[dict] = field(default=None, repr=False, compare=False)

    def size_at(self, lid: int, size: int) -> Optional[int]:
        """Layer ``lid``'s size for input ``size``, a sentinel (INVALID, NO_AXIS, UNKNOWN),
        or None when it was not evaluated."""
        sizes = self.layer_sizes.get(lid) if self.layer_sizes is not None else None
        return sizes[size - 1] if sizes is not None and 1 <= size <= len(sizes) else None

    def holds(self, size: int) -> bool:
        if self.only is not None:
            return size in self.only
        if self.modulus is None:
            return False
        return size >= (self.minimum or 1) and size % self.modulus in self.residues


def _periodic(members: list, top: int) -> Optional[tuple]:
    """(modulus, residues, minimum) describing ``members`` within 1..top, if periodic."""
    if not members:
        return None
    start = members[0]
    memberset = set(members)
    for m in range(1, max(2, (top - start) // 3 + 1)):
        residues = tuple(sorted({h % m for h in members}))
        if all((h % m in residues) == (h in memberset) for h in range(start, top + 1)):
            return m, residues, start
    return None


def round_trip(lg: LayerGraph, st: Structure, axis: int, order: Optional[list] = None) -> RoundTrip:
    """Evaluate the transfer functions at every size up to a bound and find the pattern."""
    order = order if order is not None else lg.dag.topological_sort()
    factor = 1
    for s in st.downs:
        factor *= int(s.factor) if isinstance(s.factor, (int, float)) and s.factor and s.factor >= 1 else 2
    factor = min(factor, 1024)
    top = min(max(8 * factor + 256, 512), 8192)
    evaluated = evaluate_sizes(lg, order, st.input_id, axis, range(1, top + 1))
    rt = _pattern(axis, evaluated[st.output_id], top)
    rt.layer_sizes = evaluated  # kept for saying where a size stops the model (SC104)
    return rt


def _pattern(axis: int, outs: list, top: int) -> RoundTrip:
    hs = range(1, top + 1)
    if outs.count(UNKNOWN) == top or outs.count(NO_AXIS) == top:
        return RoundTrip(axis, None, (), None, None, {}, unknown=True)
    examples = {h: plain_size(v) for h, v in zip(hs, outs)}
    runs_list = [h for h, v in zip(hs, outs) if v >= 0]
    runs = _periodic(runs_list, top)
    offsets = {v - h for h, v in zip(hs, outs) if v >= 0}
    offset = offsets.pop() if len(offsets) == 1 else None
    ok = [h for h, v in zip(hs, outs) if v == h]
    if not ok:
        return RoundTrip(axis, None, (), None, None, examples, runs=runs, offset=offset)
    if len(ok) <= 2 and ok[-1] < top // 2:
        return RoundTrip(axis, None, (), None, tuple(ok), examples, runs=runs, offset=offset)
    pattern = _periodic(ok, top)
    if pattern is None:
        return RoundTrip(axis, None, (), None, tuple(ok[:8]), examples, runs=runs, offset=offset)
    m, residues, start = pattern
    return RoundTrip(axis, m, residues, start, None, examples, runs=runs, offset=offset)


def round_trips(lg: LayerGraph, st: Structure, spatial: int) -> list:
    """:func:`round_trip` for every spatial axis, computed once per distinct axis.

    Axes whose transfer functions agree on every layer (a square image through
    square kernels) share one evaluation.
    """
    order = lg.dag.topological_sort()
    out: list = []
    seen: dict = {}
    for axis in range(spatial):
        key = tuple(_axis_key(layer, axis) for layer in lg.layers.values())
        if key in seen:
            first = seen[key]
            out.append(RoundTrip(axis, first.modulus, first.residues, first.minimum, first.only,
                                 dict(first.examples), first.unknown, first.runs, first.offset,
                                 first.layer_sizes))
            continue
        seen[key] = rt = round_trip(lg, st, axis, order)
        out.append(rt)
    return out


def _axis_key(layer: Layer, axis: int):
    transfer = layer.transfer[axis] if axis < len(layer.transfer) else None
    if isinstance(transfer, tuple) and transfer and transfer[0] == "match":
        return ("match", transfer[1])  # the matched layer's own axis follows the same key
    return transfer
