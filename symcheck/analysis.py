"""``analyze(path) -> Analysis``: the whole pipeline, one direction.

load -> propagate shapes -> layer graph -> structure (ladder, levels, pairs)
-> rules. Renderers and verification read the :class:`Analysis`; nothing
here prints.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union, overload

from . import __version__
from .dims import Dim, Expr
from .errors import SymcheckError
from .layers import Layer, LayerGraph, build, describe_layout
from .load import (Exporter, check_computed, check_layer_sizes, check_model, check_tensor_dims,
                   detect_exporter, opset_version, parse_model, read_model)
from .proto import ModelProto
from .shapes import Propagation, Tensor, dim_product, read_initializers, read_nodes, type_to_tensor
from .structure import RoundTrip, Structure, analyse_structure, round_trips, spatial_of

if TYPE_CHECKING:  # verify imports nothing from here, but is only needed for the annotation
    from .verify import Verification


@dataclass(frozen=True)
class Finding:
    """One fact about the model, from one rule."""

    code: str
    name: str
    severity: str  # "error", "warning" or "info"
    message: str
    layers: tuple = ()  # framework layer names, most relevant first
    level: Optional[int] = None
    related: tuple = ()  # codes of findings this one explains or is explained by

    def to_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "severity": self.severity,
                "message": self.message, "layers": list(self.layers), "level": self.level,
                "related": list(self.related)}


SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass
class Analysis:
    """Everything symcheck knows about one model."""

    path: str
    model: ModelProto = field(repr=False)
    exporter: Exporter
    opset: int
    layers: LayerGraph = field(repr=False)
    structure: Structure = field(repr=False)
    input_name: str = ""
    output_name: str = ""
    layout: str = "NCHW"
    symbols: dict = field(default_factory=dict)  # file dim_param -> display name
    round_trips: list = field(default_factory=list)  # RoundTrip per spatial axis
    findings: list = field(default_factory=list)
    choice: str = ""  # why this input/output pair, when there was a choice
    largest_tensor_bytes: int = 0  # the largest fully static tensor any node produces
    #: inline initializers read without their bytes (a large file): name -> (offset, length)
    #: of the payload in the file; verification reads them from there
    weights_in_file: dict = field(default_factory=dict)
    verification: Optional[Verification] = None
    #: dim_text's rendered expressions, and the display names they were rendered with
    _dim_texts: dict = field(default_factory=dict, repr=False, compare=False)
    _dim_names: Optional[dict] = field(default=None, repr=False, compare=False)
    #: ladder's result, and the display names it was worked out with
    _ladder: Optional[tuple] = field(default=None, repr=False, compare=False)

    # -- convenience views -------------------------------------------------
    def layer(self, lid: int) -> Layer:
        return self.layers.layers[lid]

    @property
    def input_layer(self) -> Layer:
        return self.layer(self.structure.input_id)

    @property
    def output_layer(self) -> Layer:
        return self.layer(self.structure.output_id)

    @property
    def is_encoder_decoder(self) -> bool:
        return self.structure.is_encoder_decoder

    @property
    def is_reconstruction(self) -> bool:
        """Output has the input's channel count: it should give back its input."""
        a, b = self.input_layer.out_shape, self.output_layer.out_shape
        if not a or not b:
            return False
        return len(a) == len(b) and len(a) >= 3 and a[1] == b[1]

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers.layers.values())

    def side_params(self, side: str) -> int:
        return sum(self.layer(lid).params for lid, s in self.structure.side.items()
                   if s == side and lid in self.layers.layers)

    @property
    def bottleneck(self) -> Optional[Layer]:
        st = self.structure
        if not st.is_encoder_decoder:
            return None
        return self.layer(st.steps[st.split].layer)

    @property
    def code(self) -> Optional[Layer]:
        """The narrowest tensor at the bottleneck: the bottleneck layer, or a narrower one
        after it on the main path at the same level and size (a conv VAE's mu, 64×4×4 →
        8×4×4, whose sample the decoder reads). Reports show its shape and count its
        values as the bottleneck's. On a map only: a dense latent is the structure's pick."""
        st = self.structure
        best = self.bottleneck
        if best is None or best.out_shape is None or len(best.out_shape) < 2:
            return best
        size = spatial_of(best)
        if not size:  # a dense latent: structure picked the middle dense layer already
            return best
        for step in st.steps[st.split + 1:]:
            if step.level_in != st.bottleneck or step.level_out != st.bottleneck:
                break
            other = self.layer(step.layer)
            shape = other.out_shape
            if shape is None or len(shape) != len(best.out_shape) or spatial_of(other) != size \
                    or other.grid is not None:  # inside a layout detour: not a map's channels
                continue
            if isinstance(shape[1], int) and isinstance(best.out_shape[1], int) and shape[1] < best.out_shape[1]:
                best = other
        return best

    @property
    def bottleneck_values(self) -> Optional[Dim]:
        layer = self.code
        if layer is None or layer.out_shape is None:
            return None
        return dim_product(layer.out_shape[1:])  # None when unknown or too large

    @property
    def input_values(self) -> Optional[Dim]:
        shape = self.input_layer.out_shape
        if shape is None:
            return None
        return dim_product(shape[1:])

    @property
    def compression(self) -> Optional[float]:
        a, b = self.input_values, self.bottleneck_values
        if isinstance(a, int) and isinstance(b, int) and b > 0:
            return a / b
        return None

    @property
    def verdict(self) -> str:
        if not self.is_encoder_decoder:
            return "not an encoder-decoder"
        # SC9xx say whether symcheck's own claims held, not whether the model is symmetric
        worst = max((SEVERITY_RANK[f.severity] for f in self.findings if not f.code.startswith("SC9")),
                    default=-1)
        if worst >= 1:
            return "asymmetric"
        if worst == 0:
            return "symmetric with notes"
        return "symmetric"

    def counts(self) -> dict:
        out = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            out[f.severity] += 1
        return out

    def table_order(self) -> list:
        """Layer ids for a layer table: the main path in order, then the layers off it."""
        order = list(self.structure.path[1:-1])
        on_path = set(order)
        return order + sorted(lid for lid in self.layers.layers if lid not in on_path
                              and self.layer(lid).kind not in ("input", "output"))

    def level_text(self, lid: int) -> str:
        """``2`` for a layer at level 2, ``2→3`` for a transition, ``·`` off the main path."""
        level = self.structure.level_of.get(lid)
        if isinstance(level, tuple):
            return f"{level[0]}→{level[1]}"
        if level is None:
            return "·" if lid not in self.structure.on_path else ""
        return str(level)

    @overload
    def to_user_layout(self, shape: tuple) -> tuple: ...
    @overload
    def to_user_layout(self, shape: None) -> None: ...
    @overload
    def to_user_layout(self, shape: Optional[tuple]) -> Optional[tuple]: ...

    def to_user_layout(self, shape: Optional[tuple]) -> Optional[tuple]:
        """A canonical (N, C, *spatial) shape in the user's layout (NHWC for Keras)."""
        if shape is None:
            return None
        if self.layout.endswith("C") and len(shape) >= 3 and len(self.layout) == len(shape):
            return (shape[0], *shape[2:], shape[1])
        return tuple(shape)

    def dim_text(self, dim) -> str:
        """A dim as reports show it: symbolic dims with the input's display names
        (``ceil(H/2)``). Each distinct expression is rendered once per set of names."""
        if dim is None:
            return "?"
        if isinstance(dim, Expr):
            cache = self._dim_texts
            if self._dim_names != self.symbols:
                cache.clear()
                self._dim_names = dict(self.symbols)
            text = cache.get(dim)
            if text is None:
                text = cache[dim] = str(dim.substitute({k: Expr.symbol(v) for k, v in self.symbols.items()}))
            return text
        return str(dim)

    def size_text(self, spatial: Optional[tuple]) -> str:
        """``28×28``, or ``28`` where all axes agree is not wanted: keep both."""
        if spatial is None:
            return "?"
        if len(spatial) == 0:
            return "vector"
        return "×".join(self.dim_text(d) for d in spatial)

    def ladder(self) -> tuple[list, list]:
        """Sizes along the main path: (encoder side, decoder side).

        The decoder side starts at the bottleneck size, so the Keras blog model
        gives ``(['28', '14', '7', '4'], ['4', '8', '16', '14', '28'])``.
        Worked out once per set of display names: a report asks for it several
        times (a 30k-node model's takes ~25 ms).
        """
        names = tuple(self.symbols.items())
        if self._ladder is None or self._ladder[0] != names:
            self._ladder = (names, self._work_out_ladder())
        enc, dec = self._ladder[1]
        return list(enc), list(dec)

    def _work_out_ladder(self) -> tuple[list, list]:
        st = self.structure
        enc = [self._ladder_size(spatial_of(self.input_layer))]
        dec: list = []
        adjusted = False  # the last entry came from an adjustment: a later one replaces it
        encoder_decoder = st.is_encoder_decoder  # O(steps): once, not per step
        isotropic = self._isotropic()
        texts: dict = {}  # a path repeats a few sizes thousands of times
        for i, step in enumerate(st.steps):
            sp = spatial_of(self.layer(step.layer))
            if sp is None:
                continue
            text = texts.get(sp)
            if text is None:
                text = texts[sp] = self._ladder_size(sp, isotropic)
            if encoder_decoder and i > st.split:
                if not dec:
                    dec.append(enc[-1])
                    adjusted = False
                seq = dec
            else:
                seq = enc
            if text == seq[-1]:
                continue
            if step.role == "adjust" and adjusted and len(seq) > 1:
                seq[-1] = text  # 572 → 570 → 568 reads 572 → 568
            else:
                seq.append(text)
            adjusted = step.role == "adjust"
        if st.is_encoder_decoder and not dec:
            dec.append(enc[-1])
        return enc, dec

    def ladder_text(self) -> str:
        """The ladder as one line."""
        enc, dec = self.ladder()
        text = " → ".join(enc)
        if dec:
            text += " ‖ " + " → ".join(dec)
        return text

    def _ladder_size(self, spatial: Optional[tuple], isotropic: Optional[bool] = None) -> str:
        if spatial is None:
            return "?"
        if len(spatial) == 0:
            return "·"
        texts = [self.dim_text(d) for d in spatial]
        if len(set(texts)) == 1 and all(isinstance(d, int) for d in spatial) and (
                self._isotropic() if isotropic is None else isotropic):
            return texts[0]
        if all(isinstance(d, Expr) for d in spatial) and len(set(self._one_axis(spatial))) == 1:
            return texts[0]  # H → ceil(H/2): the other axes follow the same law
        return "×".join(texts)

    def _isotropic(self) -> bool:
        """All input spatial axes equal: the ladder may show one number per size."""
        sizes = [self.dim_text(d) for d in (self.input_layer.out_shape or ())[2:]]
        return len(set(sizes)) <= 1

    def _one_axis(self, spatial: tuple) -> list:
        """Each axis's expression with its own symbol renamed to the first axis's."""
        shape = self.input_layer.out_shape or ()
        own = [d for d in shape[2:]]
        out = []
        for i, d in enumerate(spatial):
            if i < len(own) and isinstance(own[i], Expr) and isinstance(own[0], Expr):
                d = _rename(d, str(own[i]), own[0])
            out.append(str(d))
        return out

    @property
    def symbolic(self) -> bool:
        """True when the analysed input has symbolic spatial dims."""
        return any(isinstance(d, Expr) for d in (self.input_layer.out_shape or ())[2:])

    def _repr_html_(self) -> str:
        """The HTML report inline in Jupyter, in a sandboxed iframe (no scripts, own styles)."""
        import html

        from .render.html import render

        page = html.escape(render(self), quote=True)
        return (f'<iframe srcdoc="{page}" sandbox="" title="symcheck report" '
                'style="width:100%;height:860px;border:1px solid #ddd"></iframe>')

    def __repr__(self) -> str:
        return f"<Analysis {os.path.basename(self.path)}: {self.verdict}, {len(self.findings)} findings>"

    def to_dict(self) -> dict:
        from .render.json import analysis_dict

        return analysis_dict(self)

    def __str__(self) -> str:
        from .render.text import render

        return render(self)


ModelSource = Union[str, os.PathLike, bytes, ModelProto, Any]


def analyze(source: ModelSource, input_shape: Optional[Sequence[int]] = None,
            input_shapes: Optional[dict] = None, select: Sequence[str] = (),
            ignore: Sequence[str] = ()) -> Analysis:
    """Analyse a model: a path, serialized bytes, an ``onnx.ModelProto``, a
    ``torch.nn.Module`` or a Keras model.

    ``input_shape`` pins the first input, e.g. ``(1, 1, 28, 28)`` (required for
    a torch module, which is exported in-process at that shape with its module
    names kept); ``input_shapes`` pins inputs by name, ``{"input": (1, 1, 28, 28)}``.
    ``select``/``ignore`` choose rules by code, prefix or name.
    Raises :class:`~symcheck.errors.SymcheckError` for inputs it cannot analyse.
    """
    from . import frontends

    pins = dict(input_shapes or {})
    skipped: dict = {}  # large inline weights left in the file: {name: (offset, length)}
    if input_shape is not None:
        pins[""] = tuple(input_shape)
    if isinstance(source, ModelProto):
        model, path = source, "<model>"
    elif isinstance(source, (bytes, bytearray)):
        model, path = parse_model(bytes(source)), "<bytes>"
    elif frontends.is_torch_module(source):
        model, path = frontends.torch_to_onnx(source, input_shape), f"<{type(source).__name__}>"
        pins.pop("", None)
    elif frontends.is_keras_model(source):
        model, path = frontends.keras_to_onnx(source), f"<{getattr(source, 'name', 'keras')}>"
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        model = read_model(path, skipped=skipped)
    else:
        raise TypeError(f"cannot analyse a {type(source).__name__}: pass a path, bytes, "
                        "an onnx.ModelProto, a torch.nn.Module or a Keras model")
    with collector_paused():  # after any framework export, which may well make cycles
        analysis = analyze_model(model, path, pins, select, ignore)
    analysis.weights_in_file = skipped
    return analysis


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one model is analysed.

    An analysis allocates millions of small objects and frees them by
    reference counting; the collector's full passes meanwhile scan the whole
    growing heap, so their cost grows with the model (on a 30k-node U-Net
    2.57 s with it, 1.95 s without). Any cycles are collected once it is
    back on; a collector the caller had disabled stays disabled.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def analyze_model(model: ModelProto, path: str, input_shapes: dict,
                  select: Sequence[str] = (), ignore: Sequence[str] = ()) -> Analysis:
    from .rules import run_rules

    graph = model.graph
    nodes = read_nodes(graph)  # read from protobuf once
    initializers = read_initializers(graph)
    check_model(model, nodes, initializers)
    exporter = detect_exporter(model)
    opset = opset_version(model)
    inits = {i.name for i in initializers}
    data_inputs = [i for i in graph.input if i.name not in inits]
    if not data_inputs:
        raise SymcheckError("empty-model", "the graph has no data input")
    symbols: dict = {}
    counter = [0]

    def fresh(stem: str) -> Expr:
        counter[0] += 1
        return Expr.symbol(f"?{stem}{counter[0]}")

    if "" in input_shapes:  # a bare --input-shape pins the first data input
        input_shapes = dict(input_shapes)
        input_shapes.setdefault(data_inputs[0].name, input_shapes.pop(""))
        input_shapes.pop("", None)
    inputs: dict[str, Tensor] = {}
    for vi in data_inputs:
        tensor = type_to_tensor(vi.type, fresh, symbols)
        if vi.name in input_shapes:
            pinned = tuple(int(d) for d in input_shapes[vi.name])
            if tensor.shape is not None and len(tensor.shape) != len(pinned):
                raise SymcheckError(
                    "bad-input-shape",
                    f"input {vi.name!r} has rank {len(tensor.shape)}, not {len(pinned)}")
            tensor = Tensor(pinned, tensor.dtype)
        inputs[vi.name] = tensor
    unknown_pins = set(input_shapes) - set(inputs)
    if unknown_pins:
        raise SymcheckError("bad-input-shape",
                            f"the model has no input named {sorted(unknown_pins)[0]!r}")
    for name, tensor in inputs.items():
        if tensor.shape is not None:
            check_tensor_dims(f"input {name!r}", tensor.shape, tensor.dtype, data=True)
    prop = Propagation(model, inputs, opset, nodes, initializers)
    largest = check_computed(prop.order, prop.tensors)
    lg = build(model, prop, exporter, [vi.name for vi in data_inputs])
    if not lg.outputs:
        raise SymcheckError("empty-model", "no graph output depends on the data input")
    check_layer_sizes(sorted(lg.layers.values(), key=lambda layer: layer.id))
    st = analyse_structure(lg)
    from .structure import choose_io

    _, _, choice = choose_io(lg)
    analysis = Analysis(path=path, model=model, exporter=exporter, opset=opset, layers=lg,
                        structure=st, layout=describe_layout(lg.layers[st.input_id].out_axes),
                        choice=choice,
                        largest_tensor_bytes=largest)
    analysis.input_name = lg.layers[st.input_id].name
    analysis.output_name = lg.layers[st.output_id].name
    analysis.symbols = _display_symbols(analysis, symbols)
    spatial = len(analysis.input_layer.out_shape or ()) - 2
    if st.is_encoder_decoder:
        analysis.round_trips = round_trips(lg, st, max(spatial, 0))
    analysis.findings = run_rules(analysis, select=select, ignore=ignore)
    return analysis


@functools.lru_cache(maxsize=4096)
def _rename(dim: Expr, name: str, to: Expr) -> Dim:
    """``dim`` with symbol ``name`` replaced by ``to`` (a ladder repeats a few sizes)."""
    return dim.substitute({name: to})


def _display_symbols(analysis: Analysis, symbols: dict) -> dict:
    """Name symbolic input dims N, H, W (D, H, W; L) whatever the file called them."""
    shape = analysis.input_layer.out_shape or ()
    spatial = len(shape) - 2
    letters = {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}.get(spatial, [f"S{i}" for i in range(spatial)])
    names = ["N", "C"] + letters
    out = {}
    for dim, name in zip(shape, names):
        if isinstance(dim, Expr) and len(dim.symbols()) == 1 and str(dim) == next(iter(dim.symbols())):
            out[str(dim)] = name
    return out
