"""The analysis as JSON; the schema is documented in ``docs/json.md``.

Dimensions are integers where static and strings (``"ceil(H/2)"``) where
symbolic. Shapes are in the user's layout (NHWC for Keras), batch included.
Bump :data:`SCHEMA_VERSION` on any incompatible change.
"""

from __future__ import annotations

import functools
import json
import marshal
import math
from json.encoder import c_make_encoder  # type: ignore[attr-defined]  # None without the C module
from json.encoder import encode_basestring as _quote  # the C function where there is one
from typing import Callable, Optional

from .. import __version__
from ..analysis import Analysis
from ..dims import Expr
from ..rules import round_trip_statement
from ..structure import spatial_of
from .text import describe_layer

SCHEMA_VERSION = 1


def _dim(a: Analysis, d):
    if d is None:
        return None
    if isinstance(d, int):
        return d
    return a.dim_text(d)


def _shape(a: Analysis, shape):
    user = a.to_user_layout(shape)
    return None if user is None else [_dim(a, d) for d in user]


def _spatial(a: Analysis, spatial):
    return None if spatial is None else [_dim(a, d) for d in spatial]


@functools.lru_cache(maxsize=4096)
def _expr_text(transfer: Expr, letter: str) -> str:
    """``ceil(x/2)`` as ``ceil(H/2)``; a U-Net repeats a handful of transfers thousands of times."""
    return str(transfer.substitute({"x": Expr.symbol(letter)}))


def transfer_text(a: Analysis, layer, axis: int) -> str | None:
    """A layer's transfer function on one spatial axis, e.g. ``ceil(H/2)``."""
    if axis >= len(layer.transfer):
        return None
    t = layer.transfer[axis]
    letters = {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}.get(len(layer.transfer), ["S"] * 8)
    letter = letters[axis] if axis < len(letters) else f"S{axis}"
    if t is None:
        return None
    if isinstance(t, int):
        return str(t)
    if isinstance(t, Expr):
        return _expr_text(t, letter)
    if t[0] == "match":
        other = a.layers.layers.get(t[1])
        return f"size of {other.name if other else '?'}"
    if t[0] == "fixed":
        return f"{t[2]} (only for {letter} = {t[1]})"
    return None


def analysis_dict(a: Analysis) -> dict:
    """The analysis as the JSON document's data (``docs/json.md``)."""
    rows = _LayerRows(a)
    return _record(a, rows.dicts(), rows.names)


def encode_analysis(a: Analysis, depth: int = 0) -> str:
    """``encode_record(analysis_dict(a), depth)``, character for character, with each
    layer row written as its compact JSON text directly rather than built as a dict
    and encoded (the rows are most of the document: 11,258 at 30k nodes)."""
    rows = _LayerRows(a)
    return encode_record(_record(a, rows.texts(), rows.names), depth)


class _LayerRows:
    """The ``layers`` list of one analysis, as dicts or as each row's compact JSON text.

    A large model repeats a few shapes, transfers, attributes and descriptions
    thousands of times: each distinct one is converted once per document (every
    dict row gets its own lists).
    """

    def __init__(self, a: Analysis) -> None:
        self.a = a
        self.names = {lid: layer.name for lid, layer in a.layers.layers.items()}
        self.shapes: dict = {}
        self.shape_texts: dict = {}
        self.transfers: dict = {}
        self.transfer_texts: dict = {}

    def shape(self, shape):
        try:
            return self.shapes[shape]
        except KeyError:
            found = self.shapes[shape] = _shape(self.a, shape)
            return found
        except TypeError:  # an unhashable shape: not cached
            return _shape(self.a, shape)

    def transfer(self, layer) -> list:
        key = tuple(layer.transfer)
        try:
            return self.transfers[key]
        except KeyError:
            found = self.transfers[key] = [transfer_text(self.a, layer, i) for i in range(len(key))]
            return found
        except TypeError:
            return [transfer_text(self.a, layer, i) for i in range(len(key))]

    def dicts(self) -> list:
        return [self.row(lid) for lid in sorted(self.a.layers.layers)]

    def row(self, lid: int) -> dict:
        a = self.a
        st = a.structure
        layer = a.layer(lid)
        level = st.level_of.get(lid)
        names = self.names
        in_shape = self.shape(layer.in_shape)
        out_shape = self.shape(layer.out_shape)
        return {
            "name": layer.name,
            "kind": layer.kind,
            "description": describe_layer(a, layer),
            "onnx_op": layer.op,
            "onnx_nodes": list(layer.nodes),
            "inputs": [names[i] for i in layer.inputs if i in names],
            "input_shape": None if in_shape is None else list(in_shape),
            "output_shape": None if out_shape is None else list(out_shape),
            "output_tensor": layer.out_tensor,
            "params": layer.params,
            "activation": layer.activation,
            "norm": layer.norm,
            "side": st.side.get(lid),
            "level": list(level) if isinstance(level, tuple) else level,
            "on_main_path": lid in st.on_path,
            "transfer": list(self.transfer(layer)),
            "attributes": _plain(layer.attrs),
        }

    def texts(self) -> "_Lines":
        """Each row as ``_COMPACT.encode(self.row(lid))`` would write it: text values
        through json's C string encoder; each distinct shape, transfer, and kind, op,
        activation, norm and attributes (with the description they make) converted
        once; a row with a value of another type than usual encoded from its dict."""
        a = self.a
        st = a.structure
        layers = a.layers.layers
        try:
            quoted = {lid: _quote(name) for lid, name in self.names.items()}
        except TypeError:  # a name that is not text: json writes it
            return _Lines(_compact(self.row(lid)) for lid in sorted(layers))
        on_path, sides, level_of = st.on_path, st.side, st.level_of
        shape_texts, transfer_texts = self.shape_texts, self.transfer_texts
        kinds: dict = {}  # _marshalled (kind, op, activation, norm, attrs) -> their texts
        rows = _Lines()
        for lid in sorted(layers):
            layer = layers[lid]
            try:
                shape = layer.in_shape
                try:
                    in_shape = shape_texts[shape]
                except KeyError:
                    in_shape = shape_texts[shape] = _compact(self.shape(shape))
                shape = layer.out_shape
                try:
                    out_shape = shape_texts[shape]
                except KeyError:
                    out_shape = shape_texts[shape] = _compact(self.shape(shape))
                transfer_key = tuple(layer.transfer)
                try:
                    transfer = transfer_texts[transfer_key]
                except KeyError:
                    transfer = transfer_texts[transfer_key] = _compact(self.transfer(layer))
                what = (layer.kind, layer.op, layer.activation, layer.norm, layer.attrs)
                key = _marshalled(what)
                found = kinds.get(key) if key is not None else None
                if found is None:
                    found = (f'"kind": {_quote(layer.kind)}, "description": {_quote(describe_layer(a, layer))}, '
                             f'"onnx_op": {_quote(layer.op)}',
                             f'"activation": {_text_or_null(layer.activation)}, '
                             f'"norm": {_text_or_null(layer.norm)}',
                             _compact(_plain(layer.attrs)))
                    if key is not None and _marshal_exact(what):
                        kinds[key] = found
                kind, activation_norm, attrs = found
                nodes = ", ".join(map(_quote, layer.nodes))
                inputs = ", ".join([quoted[i] for i in layer.inputs if i in quoted])
                params = layer.params
                params = int.__repr__(params) if type(params) is int else _compact(params)
                side = _text_or_null(sides.get(lid))
                level = level_of.get(lid)
                level = int.__repr__(level) if type(level) is int else \
                    _compact(list(level) if isinstance(level, tuple) else level)
                rows.append(
                    f'{{"name": {quoted[lid]}, {kind}, "onnx_nodes": [{nodes}], "inputs": [{inputs}], '
                    f'"input_shape": {in_shape}, "output_shape": {out_shape}, '
                    f'"output_tensor": {_quote(layer.out_tensor)}, "params": {params}, '
                    f'{activation_norm}, "side": {side}, "level": {level}, '
                    f'"on_main_path": {"true" if lid in on_path else "false"}, '
                    f'"transfer": {transfer}, "attributes": {attrs}}}')
            except TypeError:  # a value of another type than the row's usual: json writes it
                rows.append(_compact(self.row(lid)))
        return rows


def _marshalled(value) -> Optional[bytes]:
    """``value`` written by :mod:`marshal` (in C, types kept), or None where marshal
    cannot write it (an Expr). Two values with the same bytes are the same values
    of the same types if the first is :func:`_marshal_exact` (checked before a
    text made from it is stored). A walk over a layer's attributes in Python to
    make a key cost 4 times as much."""
    try:
        return marshal.dumps(value, 2)
    except ValueError:
        return None


def _text_or_null(value) -> str:
    return "null" if value is None else _quote(value)


def _marshal_exact(value) -> bool:
    """Whether ``value`` is made of dicts, lists and tuples of int, float, str, bool and
    None only, of exactly those types, which marshal writes each in a form of its own
    (it writes bytes, a bytearray and any other buffer alike)."""
    kind = type(value)
    if kind in _LEAVES or kind is float:
        return True
    if kind is list or kind is tuple:
        return all(_marshal_exact(v) for v in value)
    if kind is dict:
        return all(_marshal_exact(k) and _marshal_exact(v) for k, v in value.items())
    return False


def _record(a: Analysis, layers: list, names: dict) -> dict:
    """The document with its ``layers`` list (dicts, or a :class:`_Lines` of their texts)."""
    st = a.structure
    enc, dec = a.ladder()
    bottleneck = a.bottleneck
    out = {
        "schema": "symcheck-analysis",
        "schema_version": SCHEMA_VERSION,
        "symcheck_version": __version__,
        "file": a.path,
        "exporter": {"family": a.exporter.family, "variant": a.exporter.variant,
                     "description": a.exporter.description},
        "producer": {"name": a.model.producer_name, "version": a.model.producer_version},
        "opset": a.opset,
        "input": {"name": a.input_name, "shape": _shape(a, a.input_layer.out_shape),
                  "layout": a.layout},
        "output": {"name": a.output_name, "shape": _shape(a, a.output_layer.out_shape)},
        "choice": a.choice or None,
        "unknown_ops": sorted(a.layers.unknown_ops),
        "params": {"total": a.total_params, "encoder": a.side_params("encoder"),
                   "decoder": a.side_params("decoder")},
        "encoder_decoder": a.is_encoder_decoder,
        "reconstruction": a.is_reconstruction,
        "ladder": {"encoder": enc, "decoder": dec, "text": a.ladder_text()},
        "bottleneck": None if bottleneck is None else {
            "layer": bottleneck.name,
            "shape": _shape(a, (a.code or bottleneck).out_shape),
            "values": _dim(a, a.bottleneck_values),
            "compression": None if a.compression is None else round(a.compression, 4),
        },
        "round_trip": {
            "statement": round_trip_statement(a) or None,
            "axes": [{"axis": rt.axis, "modulus": rt.modulus, "residues": list(rt.residues),
                      "minimum": rt.minimum, "only": list(rt.only) if rt.only else None,
                      "unknown": rt.unknown} for rt in a.round_trips],
        },
        "levels": [{
            "index": lv.index,
            "encoder_size": _spatial(a, lv.encoder_size),
            "decoder_size": _spatial(a, lv.decoder_size),
            "encoder_width": _dim(a, lv.encoder_width),
            "decoder_width": _dim(a, lv.decoder_width),
            "encoder_widths": sorted((_dim(a, w) for w in lv.encoder_widths if w is not None), key=str),
            "decoder_widths": sorted((_dim(a, w) for w in lv.decoder_widths if w is not None), key=str),
            "encoder_layers": [names[i] for i in lv.encoder_layers],
            "decoder_layers": [names[i] for i in lv.decoder_layers],
            "down": names.get(lv.down) if lv.down is not None else None,
            "up": names.get(lv.up) if lv.up is not None else None,
        } for lv in st.levels],
        "pairs": [{"level": p.level, "encoder": names[p.encoder], "decoder": names[p.decoder],
                   "how": p.how} for p in st.pairs],
        "unpaired": [names[i] for i in st.unpaired],
        "skips": [{"merge": names[m], "source": names[s]} for m, s in st.skips],
        "layers": layers,
        "findings": [f.to_dict() for f in a.findings],
        "counts": a.counts(),
        "verdict": a.verdict,
        "verification": a.verification.to_dict() if a.verification is not None else None,
    }
    return out


_LEAVES = frozenset({int, str, bool, type(None)})


def _plain(value):
    """``value`` with JSON types only. Exact leaf types and flat lists of them (most
    layer attributes: kernel, stride, pads) take the fast path, also as the values
    of a dict with text keys (a layer's attributes)."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is list or kind is tuple:
        for v in value:
            if type(v) not in _LEAVES:
                return _plain_slow(value)
        return list(value)
    if kind is dict:
        out = {}
        for key in sorted(value):
            if type(key) is not str:
                return _plain_slow(value)
            v = value[key]
            kind = type(v)
            out[key] = v if kind in _LEAVES else _plain(v)
        return out
    return _plain_slow(value)


def _plain_slow(value):
    if isinstance(value, dict):
        return {str(k): _plain(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Expr):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def render(a: Analysis) -> str:
    return encode_analysis(a) + "\n"


def summary(records: list, errors: list) -> dict:
    """Models per outcome and findings per severity (the ``summary`` object).

    ``records`` are analyses or their dicts; a model is ``with_errors`` when
    it has an error finding, else ``with_warnings`` when it has a warning,
    else ``clean`` (notes allowed); ``unreadable`` counts ``errors``.
    """
    models = {"clean": 0, "with_warnings": 0, "with_errors": 0}
    findings = {"error": 0, "warning": 0, "info": 0}
    for record in records:
        counts = record["counts"] if isinstance(record, dict) else record.counts()
        for severity in findings:
            findings[severity] += counts.get(severity, 0)
        outcome = "with_errors" if counts.get("error") else \
            "with_warnings" if counts.get("warning") else "clean"
        models[outcome] += 1
    return {"models": len(records) + len(errors), **models, "unreadable": len(errors),
            "findings": findings}


#: Top-level lists written one element per line. json's indenting encoder is
#: pure Python (~40 µs per layer); a compact element comes from its C encoder,
#: and a 30k-node U-Net has 20,000 layers.
ONE_PER_LINE = ("layers",)


#: One encoder for the compact lines: json.dumps with any non-default option
#: builds a new JSONEncoder per call (20,000 layers, 20,000 encoders).
#: Without the circular-reference check (a dict of every container's id per
#: line, ~12 % of the encoding): the rows are trees that analysis_dict builds.
_COMPACT = json.JSONEncoder(ensure_ascii=False, check_circular=False)

#: :data:`_COMPACT`'s C encoder, made once: ``encode`` makes one per call (and a
#: closure). Called as ``_C(value, 0)``, it gives the text's pieces.
_C = c_make_encoder(None, _COMPACT.default, _quote, None, ": ", ", ", False, False, True) \
    if c_make_encoder is not None else None


def _compact(value) -> str:
    """``_COMPACT.encode(value)``."""
    return "".join(_C(value, 0)) if _C is not None else _COMPACT.encode(value)


class _Lines(list):
    """Elements already encoded, one text each: :func:`indented` writes them one per
    line, as they are (a layer row's compact JSON, a file record at depth 2)."""


def indented(value, level: int = 0) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False)``, character for character,
    for a value ``level`` levels deep (its first line is not moved in).

    json's indenting encoder is a generator per container in pure Python; here
    a list of strings (a level's layer names: thousands at 30k nodes) is one
    join over the C string encoder, and every other container is written by one
    recursive function into one list of parts. A :class:`_Lines` list (not JSON
    data: elements already encoded) is written one element per line.
    """
    parts: list = []
    _write_indented(value, level, parts)
    return "".join(parts)


def _write_indented(value, level: int, out: list) -> None:
    if isinstance(value, str):
        out.append(_quote(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float_text(value))
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = "\n" + "  " * (level + 1)
        if type(value) is _Lines:  # copied once, by the document's join (9 MB at 30k nodes)
            lines = ["," + inner] * (2 * len(value) - 1)
            lines[::2] = value
            out.append("[" + inner)
            out.extend(lines)
            out.append("\n" + "  " * level + "]")
            return
        if all(type(item) is str for item in value):
            out.append("".join(("[", inner, ("," + inner).join(map(_quote, value)),
                                "\n", "  " * level, "]")))
            return
        out.append("[" + inner)
        for i, item in enumerate(value):
            if i:
                out.append("," + inner)
            _write_indented(item, level + 1, out)
        out.append("\n" + "  " * level + "]")
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = "\n" + "  " * (level + 1)
        out.append("{" + inner)
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append("," + inner)
            out.append(_quote(_key_text(key)) + ": ")
            _write_indented(item, level + 1, out)
        out.append("\n" + "  " * level + "}")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _key_text(key) -> str:
    """A dict key as json writes it: keys are strings in JSON."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float_text(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def encode_record(record: dict, depth: int = 0) -> str:
    """One file's dict as JSON text at ``depth`` (json.dumps indents by 2 per level,
    the first line stays where it is): indent 2, except that each element of the
    :data:`ONE_PER_LINE` lists is one compact line.

    A :class:`_Lines` list there (rows already encoded, as :func:`encode_analysis`
    gives them) is written as it is. Directory mode encodes in the worker
    processes at depth 2, and :func:`render_many` puts the texts into its
    ``files`` list as they are. The text is assembled in one join (a 30k-node
    model's is 9 MB).
    """
    shell = {key: value if type(value) is _Lines else _Lines(map(_compact, value))
             if key in ONE_PER_LINE and isinstance(value, list) else value
             for key, value in record.items()}
    return indented(shell, depth)


def render_many(analyses: list, errors: list, encoded: Optional[list] = None,
                depth: int = 0) -> str:
    """Several files in one document: ``{"files": [...], "errors": [...], "summary": {...}}``.

    ``analyses`` are :class:`Analysis` objects or their :func:`analysis_dict`
    (only ``file`` and ``counts`` are read when ``encoded`` is given);
    ``encoded``, when given, holds each one's :func:`encode_record` text at
    ``depth`` (0 or 2), in the same order. ``errors`` are ``(path,
    SymcheckError)``. Files and errors are sorted by their normalized path
    (:func:`symcheck.paths.sort_key`), so the document does not depend on the
    order of the arguments. Each file's text sits at depth 2, so the document
    is what json.dumps would write, with the same one-line layers.
    """
    from ..paths import sort_key

    files = [a if isinstance(a, dict) else analysis_dict(a) for a in analyses]
    given: list = list(encoded) if encoded is not None else [None] * len(files)
    parts: list = []
    writer = ReportWriter(parts.append)
    for i in sorted(range(len(files)), key=lambda i: sort_key(files[i]["file"])):
        writer.add(files[i], encode_record(files[i], 2) if given[i] is None else given[i],
                   2 if given[i] is None else depth)
    writer.close(errors)
    return "".join(parts)


class ReportWriter:
    """:func:`render_many`'s document written piece by piece, as each file's record
    arrives, so a directory run's report is on its way while later files are analysed
    and no file's text is kept.

    Files must come in report order (sorted by :func:`symcheck.paths.sort_key`,
    as :func:`symcheck.paths.expand` gives them); errors are sorted by
    :meth:`close`. Each ``write`` is one piece of the text; the pieces joined
    are exactly :func:`render_many`'s document.
    """

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write
        self._counts: list = []  # what the summary reads of each file

    def add(self, record: dict, text: str, depth: int = 2) -> None:
        """One file: its :func:`encode_record` ``text`` at ``depth`` (0 or 2), and its
        dict (only ``counts`` is read)."""
        lead = (_HEAD + "[\n    ") if not self._counts else ",\n    "
        self._counts.append({"counts": record["counts"]})
        self._write(lead + _at_depth_2(text, depth))

    def close(self, errors: list) -> None:
        """The rest of the document: ``errors`` (``(path, SymcheckError)``) and the summary."""
        from ..paths import sort_key

        errors = sorted(errors, key=lambda e: sort_key(e[0]))
        listed = [{"file": path, "code": err.code, "reason": err.reason} for path, err in errors]
        self._write((_HEAD + "[]" if not self._counts else "\n  ]")
                    + ',\n  "errors": ' + indented(listed, 1)
                    + ',\n  "summary": ' + indented(summary(self._counts, errors), 1) + "\n}\n")


#: The document up to its ``files`` list (written by :func:`indented`).
_HEAD = indented({"schema": "symcheck-report", "schema_version": SCHEMA_VERSION,
                  "symcheck_version": __version__})[:-2] + ',\n  "files": '


def _at_depth_2(text: str, depth: int) -> str:
    return str(text) if depth == 2 else str(text).replace("\n", "\n    ")
