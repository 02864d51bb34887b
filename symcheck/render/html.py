"""The HTML report: one self-contained page with a U-shaped diagram of the model.

``render(analysis) -> str`` returns a page with inline CSS and inline SVG, no
script at all, and a Content-Security-Policy that forbids every fetch
(``default-src 'none'``) and allows only the page's own stylesheet (by hash).
It opens offline, from disk or as an attachment.

Everything that comes from the model file (layer, node and tensor names, doc
strings, metadata, producer) is untrusted: the templates are rendered by jinja2
with autoescape on, no model string is ever marked safe, and control, format
and bidi characters are replaced before display. Output is deterministic: no
timestamps, no random ids, the same bytes for the same analysis.

The diagram is computed here (plain numbers and strings) and drawn by the
template ``templates/report.html.j2``:

* encoder levels descend on the left, decoder levels ascend on the right, the
  bottleneck sits at the bottom of the U;
* each level-side is a *block* of feature-map bars, one per tensor living at
  that level (height ∝ resolution, width ∝ log₂ channels);
* transitions between levels are labelled arrows; paired levels are joined
  across the U; skip connections are drawn above the pair links;
* every finding is marked once, in place: on the layer's line, on the
  transition's label, on the pair link of its level, or (for whole-model facts
  such as SC104) in the strip above the U.

Elements carry ``data-level``, ``data-side``, ``data-layer`` and
``data-code`` attributes for tests and for people who script the page.

>>> _text_width("conv2d_5", 12.0)
57.6
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import unicodedata
from dataclasses import dataclass, field
from typing import Optional

import jinja2
from markupsafe import Markup

from .. import __version__
from ..analysis import Analysis
from ..rules import RULES, round_trip_statement
from ..structure import nominal, spatial_in, spatial_of
from .text import describe_layer, shape_text, verdict_line

# -- geometry (SVG user units = CSS px at 1:1) -------------------------------------

WIDTH = 1240
FONT = 12.0  # monospace size of layer lines
CHAR = 0.6  # monospace advance, in ems (DejaVu Sans Mono, Menlo, Consolas)
LINE = 17  # line pitch of layer lines
BAR_MAX = 112  # height of the largest resolution
BAR_MIN = 8
BAR_GAP = 5
ARM_X = 410  # left edge of encoder level 0 (decoder mirrored)
ARM_STEP = 44  # each level steps this far into the U (less for deep models)
LABEL_FONT = 11.0  # transition labels
BAND = 38  # vertical room for a transition between two levels
TOP = 66  # room above level 0 for the global strip and the input/output labels
MARK_FONT = 11.0
SEVERITY_ICON = {"error": "✖", "warning": "▲", "info": "●"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

PAIR_CODES = {"SC102", "SC202", "SC203"}  # facts about a level pair: marked on its link
GLOBAL_CODES = {"SC001", "SC002", "SC003", "SC104"}  # facts about the whole model


def _text_width(text: str, size: float) -> float:
    """Width of ``text`` in a monospace font of ``size`` px (one advance per character)."""
    return round(len(text) * size * CHAR, 1)


def display(text, limit: Optional[int] = None, keep_newlines: bool = False) -> str:
    """A model-supplied string made fit for display: control/format/bidi chars replaced.

    Escaping is left to jinja2's autoescape; this only neutralises characters
    that would reorder or hide text (U+202E and friends) and shortens.

    >>> display("a\\u202eb<c>")
    'a?b<c>'
    >>> display("x" * 30, limit=9)
    'xxxx…xxxx'
    """
    s = str(text)
    if not s.isprintable():  # printable: no C* character, nothing to replace
        out = []
        for ch in s:
            if keep_newlines and ch in "\n\t":
                out.append(ch)
            elif unicodedata.category(ch)[0] == "C":
                out.append("?")
            else:
                out.append(ch)
        s = "".join(out)
    if limit is not None and len(s) > limit:
        keep = (limit - 1) // 2
        s = s[:keep] + "…" + s[len(s) - (limit - 1 - keep):]
    return s


# -- the view model -----------------------------------------------------------------

#: The few words a diagram marker shows after its code.
SHORT_LABELS = {"SC101": "rounds", "SC102": "resolution mismatch", "SC103": "fix-up",
                "SC201": "no counterpart", "SC202": "widths differ", "SC203": "kernels differ",
                "SC204": "operators differ"}


@dataclass
class Marker:
    code: str
    severity: str
    label: str  # the pill's text: code and a short phrase
    title: str  # the finding's message (tooltip)
    anchor: str  # "f-N": the finding in the list below
    layer: str = ""
    level: Optional[int] = None
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    full: str = ""  # the label before any shortening

    def __post_init__(self):
        self.full = self.full or self.label


@dataclass
class Line:
    """One text line of a block: a layer at that level."""

    layer: str  # exact layer name (data attribute)
    name: str  # displayed name
    detail: str
    x: float = 0.0
    y: float = 0.0
    anchor: str = "start"
    markers: list = field(default_factory=list)


@dataclass
class Bar:
    layer: str
    x: float
    y: float
    w: float
    h: float
    channels: str
    size: str
    kind: str  # "input", "learned", "fixed", "adjust"


@dataclass
class Card:
    """The details shown when a block or transition is hovered or focused."""

    id: str
    x: float
    y: float
    w: float
    h: float
    lines: list  # (text, css class)


@dataclass
class Block:
    id: str
    level: int
    side: str  # "encoder", "decoder" or "bottleneck"
    bars: list
    lines: list
    caption: str
    caption_x: float
    caption_y: float
    caption_anchor: str
    title: str
    card: Optional[Card] = None
    x0: float = 0.0
    x1: float = 0.0
    y0: float = 0.0
    y1: float = 0.0
    hit: tuple = (0.0, 0.0, 0.0, 0.0)  # x, y, w, h: the hover/focus area (bars, lines, pills)


def _hit_box(block: Block) -> tuple:
    xs, ys = [], []
    for b in block.bars:
        xs += [b.x, b.x + b.w]
        ys += [b.y - 12, b.y + b.h]
    for line in block.lines + ([Line("", block.caption, "", block.caption_x, block.caption_y,
                                     block.caption_anchor)] if block.caption else []):
        w = _text_width(f"{line.name}  {line.detail}" if line.detail else line.name, FONT)
        x0 = {"start": line.x, "end": line.x - w}.get(line.anchor, line.x - w / 2)
        xs += [x0, x0 + w]
        ys += [line.y - 13, line.y + 5]
        for m in line.markers:
            xs += [m.x, m.x + m.w]
    if not xs:
        return (0.0, 0.0, 0.0, 0.0)
    pad = 4
    x0, y0 = min(xs) - pad, min(ys) - pad
    return (round(x0, 1), round(y0, 1), round(max(xs) - x0 + pad, 1), round(max(ys) - y0 + pad, 1))


@dataclass
class Transition:
    id: str
    side: str
    level_from: int
    level_to: int
    layer: str
    path: str
    label: str
    label_x: float
    label_y: float
    label_anchor: str
    title: str
    markers: list = field(default_factory=list)
    card: Optional[Card] = None


@dataclass
class PairLink:
    level: int
    x1: float
    x2: float
    y: float
    text: str
    mismatch: bool
    markers: list = field(default_factory=list)
    title: str = ""


@dataclass
class Skip:
    level: int
    merge: str
    source: str
    path: str
    label: str
    label_x: float
    label_y: float
    mismatch: bool


@dataclass
class Diagram:
    width: float
    height: float
    levels: int
    blocks: list
    transitions: list
    pairs: list
    skips: list
    globals: list  # Markers above the U
    io: list  # (text, x, y, anchor, css class)
    legend: str
    encoder_decoder: bool


def _severity_sorted(findings):
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.code))


def _dim(a: Analysis, d) -> str:
    return a.dim_text(d)


def _size(a: Analysis, spatial) -> str:
    """Compact size: ``28`` for 28×28 would hide non-square maps, so keep both axes,
    but one expression when every axis follows the same law (``ceil(H/2)``)."""
    if spatial is None:
        return "?"
    if len(spatial) == 0:
        return "vector"
    try:
        compact = a._ladder_size(spatial)
    except Exception:  # pragma: no cover - a private helper changed shape
        compact = a.size_text(spatial)
    if all(isinstance(d, int) for d in spatial):
        return a.size_text(spatial)
    return compact


def _nominal_size(spatial) -> Optional[float]:
    if not spatial:
        return None
    value = nominal(spatial[0])
    return float(value) if value is not None else None


def _nominal_channels(channels) -> Optional[float]:
    if channels is None:
        return None
    value = nominal(channels)
    return float(value) if value is not None else None


def _bar_width(channels) -> float:
    c = _nominal_channels(channels)
    if c is None or c < 1:
        return 14.0
    return round(6 + 9 * math.log2(c), 1)


def _short_kind(layer) -> str:
    """``conv 3×3``, ``conv 3×3 valid``, ``max-pool 2×2``, ``upsample ×2``."""
    attrs = layer.attrs
    kind = layer.kind
    if kind in ("conv", "conv-transpose", "max-pool", "avg-pool", "lp-pool"):
        kernel = "×".join(str(k) for k in attrs.get("kernel") or [])
        name = "tconv" if kind == "conv-transpose" else kind
        text = f"{name} {kernel}".strip()
        if kind == "conv" and attrs.get("padding") == "valid" and any(
                k != 1 for k in attrs.get("kernel") or []):
            text += " valid"
        return text
    if kind == "upsample":
        return "upsample"
    return kind


def _transition_label(a: Analysis, layer, step) -> str:
    """``max-pool ↓2``, ``upsample ×2``, ``transposed conv k2 s2``."""
    factor = step.factor if step is not None else None
    f = f"{factor:g}" if isinstance(factor, (int, float)) else ""
    attrs = layer.attrs
    kernel = attrs.get("kernel") or []
    stride = attrs.get("stride") or []
    k = str(kernel[0]) if kernel and len(set(kernel)) == 1 else "×".join(map(str, kernel))
    s = str(stride[0]) if stride and len(set(stride)) == 1 else "×".join(map(str, stride))
    kind = layer.kind
    if kind in ("max-pool", "avg-pool", "lp-pool"):
        return f"{kind} ↓{f}" if f else kind
    if kind == "conv":
        return f"strided conv k{k} s{s}"
    if kind == "conv-transpose":
        return f"transposed conv k{k} s{s}"
    if kind == "upsample":
        mode = str(attrs.get("mode") or "").split(" ")[0]
        text = f"upsample ×{f}" if f else "upsample"
        return f"{text} {mode}".strip() if mode and mode != "nearest" else text
    arrow = "↓" if step is not None and step.role == "down" else "↑"
    return f"{kind} {arrow}{f}".strip()


def _layer_line(a: Analysis, lid) -> tuple:
    layer = a.layer(lid)
    before = spatial_in(a.layers.layers, layer)
    after = spatial_of(layer)
    size = _size(a, after) if before == after or before is None else f"{_size(a, before)}→{_size(a, after)}"
    parts = [_short_kind(layer)]
    if layer.in_channels is not None or layer.channels is not None:
        if layer.learned:
            parts.append(f"{_dim(a, layer.in_channels)}→{_dim(a, layer.channels)}")
    parts.append(size)
    return display(layer.name, 22), "  ".join(parts)


@dataclass
class _CardFacts:
    """What every layer card reads, worked out once per diagram."""

    partners: dict  # layer id -> [(partner id, how)]
    unpaired: set  # ids of learned layers without a partner
    codes: dict  # layer name -> sorted codes of the findings naming it first


def _card_facts(a: Analysis) -> _CardFacts:
    partners: dict = {}
    for p in a.structure.pairs:
        partners.setdefault(p.encoder, []).append((p.decoder, p.how))
        partners.setdefault(p.decoder, []).append((p.encoder, p.how))
    return _CardFacts(partners, set(a.structure.unpaired), _codes_by_first_layer(a))


def _card_lines(a: Analysis, facts: _CardFacts, lids: list, heading: str) -> list:
    partners, unpaired, codes_of = facts.partners, facts.unpaired, facts.codes
    lines = [(heading, "card-head")]
    for lid in lids:
        layer = a.layer(lid)
        lines.append((display(layer.name, 48), "card-name"))
        lines.append((f"  {describe_layer(a, layer)}", "card-text"))
        shape_in = shape_text(a, layer.in_shape) if layer.in_shape is not None else "—"
        lines.append((f"  {shape_in} → {shape_text(a, layer.out_shape)}", "card-text"))
        extra = []
        if layer.params:
            extra.append(f"{layer.params:,} params")
        for other, how in partners.get(lid, []):
            extra.append(f"pairs with {display(a.layer(other).name, 24)} ({how})")
        if lid in unpaired:
            extra.append("no counterpart")
        if extra:
            lines.append(("  " + " · ".join(extra), "card-text"))
        codes = codes_of.get(layer.name, [])
        if codes:
            lines.append(("  findings " + ", ".join(codes), "card-code"))
    return lines


def _codes_by_first_layer(a: Analysis) -> dict:
    """Layer name -> the sorted codes of the findings that name it first (one pass
    over the findings, not one per layer)."""
    codes: dict = {}
    for f in a.findings:
        if f.layers:
            codes.setdefault(f.layers[0], set()).add(f.code)
    return {name: sorted(found) for name, found in codes.items()}


def _make_card(cid: str, lines: list, x: float, y: float, prefer: str, height_limit: float) -> Card:
    w = max(_text_width(t, 11.5) for t, _ in lines) + 20
    h = len(lines) * 15 + 12
    if prefer == "right":
        cx = x
    else:
        cx = x - w
    cx = min(max(cx, 4), WIDTH - w - 4)
    cy = min(max(y, 4), max(4, height_limit - h - 4))
    return Card(cid, round(cx, 1), round(cy, 1), round(w, 1), h, lines)


class _Marks:
    """Assigns every finding one marker, in place."""

    def __init__(self, a: Analysis):
        self.a = a
        self.ordered = _severity_sorted(a.findings)
        self.anchor = {id(f): f"f-{i + 1}" for i, f in enumerate(self.ordered)}
        self.placed: set = set()

    def marker(self, f) -> Marker:
        return Marker(code=f.code, severity=f.severity, label=self._label(f),
                      title=display(f.message, 400), anchor=self.anchor[id(f)],
                      layer=f.layers[0] if f.layers else "", level=f.level)

    def _label(self, f) -> str:
        a = self.a
        short = SHORT_LABELS.get(f.code, "")
        if f.code == "SC104":
            statement = round_trip_statement(a)
            short = f"round-trips for {statement}" if statement else "input sizes"
        elif f.code == "SC002":
            short = (f"output {shape_text(a, a.output_layer.out_shape)} ≠ "
                     f"input {shape_text(a, a.input_layer.out_shape)}")
        elif not short:
            short = f.name
        return f"{SEVERITY_ICON[f.severity]} {f.code} {display(short, 60)}"

    def for_layer(self, name: str, kinds=None) -> list:
        out = []
        for f in self.ordered:
            if id(f) in self.placed or not f.layers or f.layers[0] != name:
                continue
            if f.code in PAIR_CODES or f.code in GLOBAL_CODES:
                continue
            self.placed.add(id(f))
            out.append(self.marker(f))
        return out

    def for_pair(self, level: int) -> list:
        out = []
        for f in self.ordered:
            if id(f) in self.placed or f.code not in PAIR_CODES or f.level != level:
                continue
            self.placed.add(id(f))
            out.append(self.marker(f))
        return out

    def rest(self) -> list:
        out = []
        for f in self.ordered:
            if id(f) not in self.placed:
                self.placed.add(id(f))
                out.append(self.marker(f))
        return out


def _place_markers(markers: list, x: float, y: float, anchor: str) -> float:
    """Lay pills out from ``x`` (growing right for 'start', left for 'end'); returns the far edge."""
    cur = x
    for m in markers:
        m.w = _pill_width(m)
        if anchor == "start":
            m.x, cur = cur, cur + m.w + 6
        else:
            m.x, cur = cur - m.w, cur - m.w - 6
        m.y = y
    return cur


def _pill_width(m: Marker) -> float:
    m.w = round(_text_width(m.label, MARK_FONT) + 14, 1)
    return m.w


def _fit_markers(markers: list, room: float) -> bool:
    """Shorten pill labels to their code when the phrases do not fit in ``room`` px.

    Returns whether the pills fit (after shortening)."""
    def total():
        return sum(_pill_width(m) + 6 for m in markers)
    if total() <= room:
        return True
    for m in markers:
        m.label = " ".join(m.label.split(" ")[:2])
    return total() <= room


def _pills_after(markers: list, x: float, y: float, direction: str, limit: float,
                 wrap_x: float) -> None:
    """Pills right after a text (``direction`` 'start': growing right up to ``limit``;
    'end': growing left down to ``limit``); on the next line from ``wrap_x`` if they
    do not fit even as bare codes."""
    room = (limit - x) if direction == "start" else (x - limit)
    if _fit_markers(markers, room):
        _place_markers(markers, x, y, direction)
        return
    room = (limit - wrap_x) if direction == "start" else (wrap_x - limit)
    for m in markers:  # the next line has room for the phrases again, maybe
        m.label = m.full
    _fit_markers(markers, room)
    _place_markers(markers, wrap_x, y + 16, direction)


def _fit_text(text: str, size: float, room: float) -> str:
    """``text`` shortened in the middle (…) to fit ``room`` px of monospace ``size``.

    >>> _fit_text("abcdefghij", 10, 36)
    'ab…hij'
    """
    fits = int(room // (size * CHAR))
    if len(text) <= fits:
        return text
    if fits < 3:
        return text[:max(fits, 1)]
    keep = (fits - 1) // 2
    return text[:keep] + "…" + text[len(text) - (fits - 1 - keep):]


def _make_line(a: Analysis, lid, marks: "_Marks", x: float, y: float, anchor: str,
               room: float) -> Line:
    """A layer's line with its finding pills, fitted into ``room`` px from ``x``."""
    name, detail = _layer_line(a, lid)
    line = Line(a.layer(lid).name, name, detail, x, y, anchor, marks.for_layer(a.layer(lid).name))
    if anchor == "middle":
        room = room * 2
    pills_min = sum(_text_width(" ".join(m.label.split(" ")[:2]), MARK_FONT) + 20 for m in line.markers)
    text_room = room - pills_min
    full = f"{name}  {detail}"
    if _text_width(full, FONT) > text_room:
        line.detail = _fit_text(detail, FONT, text_room - _text_width(name + "  ", FONT))
    text_w = _text_width(f"{line.name}  {line.detail}", FONT)
    if anchor == "end":
        _fit_markers(line.markers, room - text_w - 10)
        _place_markers(line.markers, x - text_w - 10, y, "end")
    elif anchor == "start":
        _fit_markers(line.markers, room - text_w - 10)
        _place_markers(line.markers, x + text_w + 10, y, "start")
    else:
        _fit_markers(line.markers, room / 2 - text_w / 2 - 10)
        _place_markers(line.markers, x + text_w / 2 + 10, y, "start")
    return line


def diagram(a: Analysis) -> Diagram:
    """The U-shaped diagram's geometry: plain numbers and display strings."""
    st = a.structure
    marks = _Marks(a)
    steps = {s.layer: s for s in st.steps}
    ed = a.is_encoder_decoder
    facts = _card_facts(a)
    unpaired = facts.unpaired  # asked once per layer: a set, not the list
    levels = st.levels
    bottom = st.bottleneck if ed else len(levels) - 1
    names = {lid: a.layer(lid).name for lid in a.layers.layers}

    # what lives at each level, per side: (layer ids for bars, layer ids for lines)
    enc_bars: dict = {}
    enc_lines: dict = {}
    dec_bars: dict = {}
    dec_lines: dict = {}
    for lv in levels:
        k = lv.index
        start = st.input_id if k == 0 else levels[k - 1].down
        if not ed:
            lines = [lid for lid in st.path[1:-1] if st.level_of.get(lid) == k]
            enc_lines[k] = lines
            enc_bars[k] = ([start] if start is not None else []) + lines
            continue
        if k < bottom:
            enc_lines[k] = list(lv.encoder_layers)
            enc_bars[k] = ([start] if start is not None else []) + enc_lines[k]
            dec_lines[k] = list(lv.decoder_layers)
            dec_bars[k] = ([lv.up] if lv.up is not None else []) + dec_lines[k]
        else:
            enc_lines[k] = list(lv.encoder_layers) + list(lv.decoder_layers)
            enc_bars[k] = ([start] if start is not None else []) + enc_lines[k]

    sizes = [_nominal_size(spatial_of(a.layer(l))) for bars in (enc_bars, dec_bars)
             for ids in bars.values() for l in ids]
    biggest = max([s for s in sizes if s] or [1.0])

    def bar_h(lid) -> float:
        s = _nominal_size(spatial_of(a.layer(lid)))
        if not s:
            return float(BAR_MIN)
        return round(max(BAR_MIN, BAR_MAX * s / biggest), 1)

    def bar_kind(lid) -> str:
        layer = a.layer(lid)
        if layer.kind == "input":
            return "input"
        step = steps.get(lid)
        if step is not None and step.role == "adjust":
            return "adjust"
        if lid in unpaired and ed:
            return "learned unpaired"
        return "learned" if layer.learned else "fixed"

    def row_height(k) -> float:
        hs = [bar_h(l) for l in enc_bars.get(k, []) + dec_bars.get(k, [])] or [BAR_MIN]
        n = max(len(enc_lines.get(k, [])), len(dec_lines.get(k, [])), 1)
        if k == bottom and ed:
            return max(hs) + 8 + (n + 1) * LINE
        return max(max(hs), n * LINE) + 10

    # vertical layout
    y = float(TOP)
    row_top: dict = {}
    row_mid: dict = {}
    for lv in levels:
        k = lv.index
        h = row_height(k)
        row_top[k] = y
        row_mid[k] = y + (h if not (k == bottom and ed) else max(
            [bar_h(l) for l in enc_bars.get(k, [])] or [BAR_MIN])) / 2
        y += h + BAND
    height = y - BAND + 16

    blocks: list[Block] = []
    transitions: list[Transition] = []
    pair_links: list[PairLink] = []
    bar_pos: dict = {}  # (side, level) -> list of Bar

    step_x = min(ARM_STEP, 150 / max(bottom - 1, 1)) if ed else ARM_STEP

    def lay_bars(ids, x, mid, grow) -> list:
        bars = []
        widths = [_bar_width(a.layer(l).channels) for l in ids]
        total = sum(widths) + BAR_GAP * max(len(ids) - 1, 0)
        cur = x if grow == "right" else x - total
        for lid, w in zip(ids, widths):
            h = bar_h(lid)
            layer = a.layer(lid)
            bars.append(Bar(names[lid], round(cur, 1), round(mid - h / 2, 1), w, h,
                            _dim(a, layer.channels) if layer.channels is not None else "",
                            _size(a, spatial_of(layer)), bar_kind(lid)))
            cur += w + BAR_GAP
        return bars

    counter = [0]

    def next_id(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    for lv in levels:
        k = lv.index
        mid = row_mid[k]
        if ed and k == bottom:
            ids = enc_bars.get(k, [])
            widths = sum(_bar_width(a.layer(l).channels) for l in ids) + BAR_GAP * max(len(ids) - 1, 0)
            x0 = WIDTH / 2 - widths / 2
            bars = lay_bars(ids, x0, mid, "right")
            bar_pos[("bottleneck", k)] = bars
            bottom_bar = max((b.y + b.h for b in bars), default=mid)
            lines = []
            ly = bottom_bar + LINE + 2
            for lid in enc_lines.get(k, []):
                lines.append(_make_line(a, lid, marks, WIDTH / 2, ly, "middle", WIDTH / 2 - 8))
                ly += LINE
            bn = a.bottleneck
            caption = "bottleneck"
            if bn is not None:
                caption = f"bottleneck {shape_text(a, (a.code or bn).out_shape)}"
                values = a.bottleneck_values
                if isinstance(values, int):
                    caption += f" = {values:,} values"
                if a.compression is not None:
                    caption += f" ({a.compression:.1f}× compression)"
            block = Block(next_id("b"), k, "bottleneck", bars, lines, caption,
                          WIDTH / 2, ly + 2, "middle",
                          title=f"level {k} (bottleneck)")
            card_ids = [l for l in ids[:1]] + enc_lines.get(k, [])
            block.card = _make_card(block.id + "c", _card_lines(
                a, facts, card_ids, f"level {k} · bottleneck"), WIDTH / 2 + widths / 2 + 12,
                mid - 20, "right", height)
            block.x0, block.x1 = x0, x0 + widths
            block.y0, block.y1 = min((b.y for b in bars), default=mid), bottom_bar
            blocks.append(block)
            continue

        # encoder (left arm)
        ex = ARM_X + k * step_x
        ids = enc_bars.get(k, [])
        bars = lay_bars(ids, ex, mid, "right")
        bar_pos[("encoder", k)] = bars
        lines = []
        n = len(enc_lines.get(k, []))
        ly = mid - (n - 1) * LINE / 2 + 4
        for lid in enc_lines.get(k, []):
            lines.append(_make_line(a, lid, marks, ex - 14, ly, "end", ex - 14 - 8))
            ly += LINE
        side = "encoder" if ed else "path"
        end_x = bars[-1].x + bars[-1].w if bars else ex
        block = Block(next_id("b"), k, side, bars, lines, "", ex, mid, "start",
                      title=f"level {k} {side}")
        block.x0, block.x1 = ex, end_x
        block.y0 = min((b.y for b in bars), default=mid)
        block.y1 = max((b.y + b.h for b in bars), default=mid)
        block.card = _make_card(block.id + "c", _card_lines(
            a, facts, ids,
            f"level {k} · {side} · {_size(a, spatial_of(a.layer(ids[-1]))) if ids else ''}"),
            end_x + 14, block.y0, "right", height)
        blocks.append(block)
        if not ed:
            continue

        # decoder (right arm)
        dx = WIDTH - ARM_X - k * step_x
        ids = dec_bars.get(k, [])
        bars = lay_bars(ids, dx, mid, "left")
        bar_pos[("decoder", k)] = bars
        lines = []
        n = len(dec_lines.get(k, []))
        ly = mid - (n - 1) * LINE / 2 + 4
        for lid in dec_lines.get(k, []):
            lines.append(_make_line(a, lid, marks, dx + 14, ly, "start", WIDTH - 4 - (dx + 14)))
            ly += LINE
        start_x = bars[0].x if bars else dx
        block = Block(next_id("b"), k, "decoder", bars, lines, "", dx, mid, "end",
                      title=f"level {k} decoder")
        block.x0, block.x1 = start_x, dx
        block.y0 = min((b.y for b in bars), default=mid)
        block.y1 = max((b.y + b.h for b in bars), default=mid)
        block.card = _make_card(block.id + "c", _card_lines(
            a, facts, ids,
            f"level {k} · decoder · {_size(a, spatial_of(a.layer(ids[-1]))) if ids else ''}"),
            start_x - 14, block.y0, "left", height)
        blocks.append(block)

    # transitions: encoder k -> k+1 (down), decoder k+1 -> k (up)
    def bars_of(side, k):
        if ed and k == bottom:
            return bar_pos.get(("bottleneck", k), [])
        return bar_pos.get((side if ed else "encoder", k), [])

    for lv in levels[:-1] if levels else []:
        k = lv.index
        for side, lid in (("encoder", lv.down), ("decoder", lv.up if ed else None)):
            if lid is None:
                continue
            layer = a.layer(lid)
            step = steps.get(lid)
            if side == "encoder":
                src, dst = bars_of("encoder", k), bars_of("encoder", k + 1)
                if not src or not dst:
                    continue
                x1, y1 = src[-1].x + src[-1].w / 2, src[-1].y + src[-1].h
                target = next((b for b in dst if b.layer == names[lid]), dst[0])
                x2, y2 = target.x + target.w / 2, target.y - 13
            else:
                src, dst = bars_of("decoder", k + 1), bars_of("decoder", k)
                if not src or not dst:
                    continue
                x1, y1 = src[-1].x + src[-1].w / 2, src[-1].y - 13
                target = next((b for b in dst if b.layer == names[lid]), dst[0])
                x2, y2 = target.x + target.w / 2, target.y + target.h
            band = (row_top[k] + row_height(k) + row_top[k + 1]) / 2 if k + 1 in row_top else y1 + 10
            if side == "encoder":
                path = f"M{x1:.1f},{y1:.1f} V{band:.1f} H{x2:.1f} V{y2 - 3:.1f}"
            else:
                path = f"M{x1:.1f},{y1:.1f} V{band:.1f} H{x2:.1f} V{y2 + 3:.1f}"
            before = spatial_in(a.layers.layers, layer)
            after = spatial_of(layer)
            label = f"{display(layer.name, 22)}  {_transition_label(a, layer, step)}  {_size(a, before)}→{_size(a, after)}"
            markers = marks.for_layer(names[lid])
            if side == "encoder":
                label = _fit_text(label, LABEL_FONT, min(x1, x2) - 10 - 8 - 70)
            else:
                label = _fit_text(label, LABEL_FONT, WIDTH - 4 - (max(x1, x2) + 10) - 70)
            label_w = _text_width(label, LABEL_FONT)
            if side == "encoder":
                lx, anchor = min(x1, x2) - 10, "end"
                _pills_after(markers, lx - label_w - 8, band + 4, "end", 8, lx)
            else:
                lx, anchor = max(x1, x2) + 10, "start"
                _pills_after(markers, lx + label_w + 8, band + 4, "start", WIDTH - 4, lx)
            t = Transition(next_id("t"), side, k if side == "encoder" else k + 1,
                           k + 1 if side == "encoder" else k, names[lid], path, label,
                           round(lx, 1), round(band + 4, 1), anchor,
                           title=f"{layer.name}: {describe_layer(a, layer)}", markers=markers)
            t.card = _make_card(t.id + "c", _card_lines(
                a, facts, [lid], f"{side} transition · level {t.level_from} → {t.level_to}"),
                lx if side == "decoder" else lx, band + 12,
                "right" if side == "decoder" else "left", height)
            transitions.append(t)

    # pair links across the U
    if ed:
        for lv in levels[:bottom]:
            k = lv.index
            e, d = bar_pos.get(("encoder", k), []), bar_pos.get(("decoder", k), [])
            if not e or not d:
                continue
            x1 = e[-1].x + e[-1].w + 8
            x2 = d[0].x - 8
            e_text, d_text = _size(a, lv.encoder_size), _size(a, lv.decoder_size)
            if lv.encoder_width != lv.decoder_width:
                e_text += f"×{_dim(a, lv.encoder_width)}"
                d_text += f"×{_dim(a, lv.decoder_width)}"
            mismatch = e_text != d_text
            markers = marks.for_pair(k)
            _fit_markers(markers, x2 - x1 - 4)
            total = sum(m.w for m in markers) + 6 * max(len(markers) - 1, 0)
            _place_markers(markers, (x1 + x2) / 2 - total / 2, row_mid[k] + 18, "start")
            pairs_here = [p for p in st.pairs if p.level == k]
            title = f"level {k}: encoder {e_text}, decoder {d_text}"
            if pairs_here:
                title += "; pairs " + ", ".join(
                    f"{a.layer(p.encoder).name} ↔ {a.layer(p.decoder).name}" for p in pairs_here)
            text = f"{e_text} ↔ {d_text}" if mismatch else f"{e_text} ═ {d_text}"
            pair_links.append(PairLink(k, round(x1, 1), round(x2, 1), round(row_mid[k], 1),
                                       _fit_text(text, 11, x2 - x1 + 10), mismatch, markers, title))

    # skip connections: above the pair link of the source's level
    skips: list[Skip] = []
    for merge, source in st.skips:
        lvl = st.level_of.get(source)
        if isinstance(lvl, tuple):
            lvl = lvl[1]
        mlvl = st.level_of.get(merge)
        if isinstance(mlvl, tuple):
            mlvl = mlvl[1]
        if lvl is None or lvl not in row_mid:
            continue
        e = bar_pos.get(("encoder", lvl)) or bar_pos.get(("bottleneck", lvl)) or []
        d = bar_pos.get(("decoder", mlvl if mlvl is not None else lvl)) or []
        if not e or not d:
            continue
        src = next((b for b in e if b.layer == names[source]), e[-1])
        dst = next((b for b in d if b.layer == names[merge]), d[0])
        x1 = src.x + src.w / 2
        x2 = dst.x + dst.w / 2
        top = min(src.y, dst.y) - 18 - 8 * len(skips)
        path = f"M{x1:.1f},{src.y:.1f} V{top:.1f} H{x2:.1f} V{dst.y - 3:.1f}"
        mismatch = any(f.code == "SC302" and names[merge] in f.layers for f in a.findings)
        skips.append(Skip(lvl, names[merge], names[source], path,
                          f"skip {display(names[source], 20)} → {display(names[merge], 20)}",
                          round(WIDTH / 2, 1), round(top - 4, 1), mismatch))

    # everything not yet placed goes in the strip above the U
    globals_ = marks.rest()
    _fit_markers(globals_, WIDTH - 40)
    total = sum(m.w for m in globals_) + 6 * max(len(globals_) - 1, 0)
    _place_markers(globals_, WIDTH / 2 - total / 2, 20, "start")

    io: list[tuple[str, float, int, str, str]] = []
    inp = a.input_layer
    text = _fit_text(f"input {display(a.input_name, 24)} {shape_text(a, inp.out_shape)} ({a.layout})",
                     12, ARM_X - 14 - 90)
    io.append((text, ARM_X - 14, 48, "end", "io"))
    io.append(("encoder" if ed else "main path", ARM_X - 14 - _text_width(text, 12) - 12, 48,
               "end", "side-label"))
    if ed:
        text = _fit_text(f"output {display(a.output_name, 24)} {shape_text(a, a.output_layer.out_shape)}",
                         12, ARM_X - 14 - 90)
        io.append((text, WIDTH - ARM_X + 14, 48, "start", "io"))
        io.append(("decoder", WIDTH - ARM_X + 14 + _text_width(text, 12) + 12, 48, "start",
                   "side-label"))
    legend = ("bar height ∝ resolution · bar width ∝ log₂ channels · dark bars are learned layers · "
              "✖ error ▲ warning ● note: click one for its explanation · "
              "hover or focus a level or transition for its layers and shapes")
    for block in blocks:
        block.hit = _hit_box(block)
    n_levels = len(levels)
    return Diagram(WIDTH, round(height, 1), n_levels, blocks, transitions, pair_links, skips,
                   globals_, io, legend, ed)


# -- the page -----------------------------------------------------------------------

_ENV: Optional[jinja2.Environment] = None


def environment() -> jinja2.Environment:
    """The jinja2 environment: package templates, autoescape always on."""
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("symcheck", "templates"),
            autoescape=True,  # every template, whatever its extension
            undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
        _ENV.filters["display"] = display
        _ENV.filters["num"] = _num
    return _ENV


def _num(value) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _stylesheet(extra_rules: list) -> tuple[Markup, str]:
    """The page's CSS (our own text, never model text) and its CSP hash source."""
    loader = environment().loader
    assert loader is not None  # environment() always sets the package loader
    css = loader.get_source(environment(), "report.css")[0]
    css = css + "\n".join(extra_rules) + "\n"
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return Markup(css), f"'sha256-{digest}'"


def csp(style_hash: str) -> str:
    """The Content-Security-Policy: nothing may load, run or be submitted."""
    return ("default-src 'none'; style-src " + style_hash + "; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def _hover_rules(d: Diagram) -> list:
    """Show a block's card while the block (or its transition) is hovered or focused."""
    rules = []
    for item in list(d.blocks) + list(d.transitions):
        if item.card is None:
            continue
        rules.append(f"#dg:has(#{item.id}:hover) #{item.card.id},"
                     f"#dg:has(#{item.id}:focus) #{item.card.id}{{display:inline}}")
    return rules


def _layer_rows(a: Analysis) -> list:
    st = a.structure
    rows = []
    on_path = set(st.path)
    codes_of = _codes_by_first_layer(a)
    for lid in a.table_order():
        layer = a.layer(lid)
        level_text = a.level_text(lid)
        codes = codes_of.get(layer.name, [])
        rows.append({
            "name": display(layer.name, 120),
            "raw": layer.name,
            "kind": describe_layer(a, layer),
            "op": display(layer.op, 40),
            "nodes": len(layer.nodes),
            "in_shape": shape_text(a, layer.in_shape) if layer.in_shape is not None else "",
            "out_shape": shape_text(a, layer.out_shape),
            "params": f"{layer.params:,}" if layer.params else "",
            "side": st.side.get(lid, "") if a.is_encoder_decoder else "",
            "level": level_text if a.is_encoder_decoder else "",
            "main": lid in on_path,
            "codes": codes,
        })
    return rows


def _level_rows(a: Analysis) -> list:
    st = a.structure
    rows = []
    for lv in st.levels:
        rows.append({
            "index": lv.index,
            "encoder": f"{_size(a, lv.encoder_size)} × {_dim(a, lv.encoder_width)}"
            if lv.encoder_size is not None and lv.encoder_width is not None else
            (_size(a, lv.encoder_size) if lv.encoder_size is not None else ""),
            "decoder": f"{_size(a, lv.decoder_size)} × {_dim(a, lv.decoder_width)}"
            if lv.decoder_size is not None and lv.decoder_width is not None else
            (_size(a, lv.decoder_size) if lv.decoder_size is not None else ""),
            "down": display(a.layer(lv.down).name, 60) if lv.down is not None else "",
            "up": display(a.layer(lv.up).name, 60) if lv.up is not None else "",
            "mismatch": lv.encoder_size is not None and lv.decoder_size is not None
            and tuple(lv.encoder_size) != tuple(lv.decoder_size),
            "bottleneck": lv.index == st.bottleneck and a.is_encoder_decoder,
        })
    return rows


def _finding_items(a: Analysis) -> list:
    items = []
    for i, f in enumerate(_severity_sorted(a.findings)):
        rule = RULES.get(f.code)
        items.append({
            "anchor": f"f-{i + 1}",
            "code": f.code,
            "name": f.name,
            "severity": f.severity,
            "message": display(f.message, 2000),
            "layers": [display(n, 80) for n in f.layers],
            "level": f.level,
            "related": list(f.related),
            "why": rule.why if rule else "",
            "fix": rule.fix if rule else "",
            "example": rule.example if rule else "",
        })
    return items


def _metadata(a: Analysis) -> list:
    m = a.model
    rows = [
        ("file", display(a.path, 300)),
        ("exporter", display(a.exporter.description, 200)),
        ("exporter family", f"{a.exporter.family} ({display(a.exporter.variant, 80)})"),
        ("producer", display(f"{m.producer_name} {m.producer_version}".strip(), 200) or "—"),
        ("opset", str(a.opset)),
        ("IR version", str(m.ir_version)),
    ]
    if m.domain:
        rows.append(("domain", display(m.domain, 200)))
    if m.model_version:
        rows.append(("model version", str(m.model_version)))
    if m.graph.name:
        rows.append(("graph", display(m.graph.name, 200)))
    if a.choice:
        rows.append(("analysed", display(a.choice, 300)))
    return rows


def _verification(a: Analysis) -> Optional[dict]:
    v = a.verification
    if v is None:
        return None
    lines = []
    text_lines = getattr(v, "text_lines", None)
    if callable(text_lines):
        lines = [display(line, 400) for line in text_lines()]
    data = {}
    to_dict = getattr(v, "to_dict", None)
    if callable(to_dict):
        data = to_dict()
    import json as _json
    return {"lines": lines,
            "json": display(_json.dumps(data, indent=2, ensure_ascii=False, default=str),
                            20000, keep_newlines=True)}


def _verdict_class(a: Analysis) -> str:
    if a.counts()["error"]:
        return "error"
    return {"asymmetric": "bad", "symmetric": "good",
            "symmetric with notes": "ok"}.get(a.verdict, "none")


def context(a: Analysis) -> dict:
    """Everything the template needs, as display strings and numbers."""
    d = diagram(a)
    css, style_hash = _stylesheet(_hover_rules(d))
    enc, dec = a.ladder()
    counts = a.counts()
    bottleneck = a.bottleneck
    values = a.bottleneck_values
    return {
        "a": a,
        "version": __version__,
        "csp": csp(style_hash),
        "css": css,
        "file": display(os.path.basename(a.path), 120),
        "exporter": display(a.exporter.description, 120),
        "opset": a.opset,
        "input": f"{shape_text(a, a.input_layer.out_shape)} ({a.layout})",
        "output": shape_text(a, a.output_layer.out_shape),
        "params": a.total_params,
        "verdict": a.verdict,
        "verdict_class": _verdict_class(a),
        "tally": verdict_line(a).split(": ", 1)[1],
        "counts": counts,
        "ladder_enc": enc,
        "ladder_dec": dec,
        "ladder": a.ladder_text(),
        "encoder_params": a.side_params("encoder"),
        "decoder_params": a.side_params("decoder"),
        "bottleneck": shape_text(a, (a.code or bottleneck).out_shape) if bottleneck is not None else "",
        "bottleneck_values": (f"{values:,}" if isinstance(values, int) else _dim(a, values))
        if values is not None else "",
        "compression": f"{a.compression:.1f}" if a.compression is not None else "",
        "round_trip": round_trip_statement(a),
        "sc104": next((display(f.message, 400) for f in a.findings if f.code == "SC104"), ""),
        "diagram": d,
        "findings": _finding_items(a),
        "levels": _level_rows(a) if a.is_encoder_decoder else [],
        "pairs": [{"level": p.level, "encoder": display(a.layer(p.encoder).name, 80),
                   "decoder": display(a.layer(p.decoder).name, 80), "how": p.how}
                  for p in a.structure.pairs],
        "unpaired": [display(a.layer(l).name, 80) for l in a.structure.unpaired],
        "skips": [{"merge": display(a.layer(m).name, 80), "source": display(a.layer(s).name, 80)}
                  for m, s in a.structure.skips],
        "layers": _layer_rows(a),
        "verification": _verification(a),
        "metadata": _metadata(a),
        "doc_string": display(a.model.doc_string, 4000, keep_newlines=True),
        "metadata_props": [(display(p.key, 120), display(p.value, 1000, keep_newlines=True))
                           for p in a.model.metadata_props],
        "encoder_decoder": a.is_encoder_decoder,
    }


def render(a: Analysis) -> str:
    """One self-contained HTML page for one analysis."""
    return environment().get_template("report.html.j2").render(**context(a))


def render_index(entries: list, errors: list) -> str:
    """The index page of a multi-model run.

    ``entries`` are ``(page file name, Analysis)``; ``errors`` are
    ``(path, SymcheckError)`` for files that could not be analysed.
    """
    css, style_hash = _stylesheet([])
    rows = []
    for page, a in entries:
        rows.append({
            "page": page,
            "file": display(os.path.basename(a.path), 120),
            "path": display(a.path, 300),
            "exporter": display(a.exporter.description, 120),
            "verdict": a.verdict,
            "verdict_class": _verdict_class(a),
            "tally": verdict_line(a).split(": ", 1)[1],
            "ladder": a.ladder_text(),
            "codes": sorted({f.code for f in a.findings}),
        })
    errs = [{"path": display(p, 300), "code": e.code, "reason": display(e.reason, 400)}
            for p, e in errors]
    return environment().get_template("index.html.j2").render(
        version=__version__, csp=csp(style_hash), css=css, rows=rows, errors=errs)


def page_names(paths: list) -> list:
    """One distinct ``NAME.html`` per model path, never ``index.html``.

    >>> page_names(["a/m.onnx", "b/m.onnx", "index.onnx"])
    ['m.html', 'm-2.html', 'index-2.html']
    """
    used = {"index"}
    out = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0] or "model"
        stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem).strip(".") or "model"
        name, n = stem, 1
        while name.lower() in used:
            n += 1
            name = f"{stem}-{n}"
        used.add(name.lower())
        out.append(name + ".html")
    return out


def write_reports(analyses: list, errors: list, target: str, directory: bool) -> list:
    """Write the HTML report(s); returns the files written.

    One model and ``directory=False``: the page goes to ``target``. Otherwise
    ``target`` is a directory (created if needed) that receives one page per
    model and ``index.html`` listing each model's verdict and every error.
    """
    if not directory:
        if analyses:
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(render(analyses[0]))
            return [target]
        return []
    os.makedirs(target, exist_ok=True)
    written = []
    names = page_names([a.path for a in analyses])
    for name, a in zip(names, analyses):
        path = os.path.join(target, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render(a))
        written.append(path)
    index = os.path.join(target, "index.html")
    with open(index, "w", encoding="utf-8") as handle:
        handle.write(render_index(list(zip(names, analyses)), errors))
    written.append(index)
    return written


def html_is_directory(target: str, count: int) -> bool:
    """Whether ``--html TARGET`` names a directory (pages + index.html) or one page.

    A directory when it exists as one, ends with a path separator, or several
    models are checked; several models and a file name raise ``ValueError``.

    >>> html_is_directory("report.html", 1)
    False
    >>> html_is_directory("out/", 1)
    True
    """
    if os.path.isdir(target) or target.endswith(("/", os.sep)):
        return True
    if count > 1:
        if os.path.exists(target) or target.lower().endswith((".html", ".htm")):
            raise ValueError(f"--html {target!r} names a file; several models need a "
                             "directory (one page per model and index.html)")
        return True
    return False
