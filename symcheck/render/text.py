"""The terminal report: one screen that answers "is my decoder the mirror of my encoder?"."""

from __future__ import annotations

import os

from ..analysis import Analysis
from ..errors import inert
from ..rules import RULES, round_trip_statement
from ..structure import spatial_in, spatial_of

MAX_NAME = 40


def clean(text: str, limit: int = MAX_NAME) -> str:
    """Strip control, escape and bidi characters from a model-supplied string; shorten it
    (:func:`symcheck.errors.inert` with the table's width)."""
    return inert(text, limit)


def _count(n: int, word: str) -> str:
    plural = {"note": "notes", "warning": "warnings", "error": "errors"}[word]
    if n == 0:
        return f"no {plural}"
    return f"{n} {word if n == 1 else plural}"


def shape_text(a: Analysis, shape) -> str:
    """A canonical shape in the user's layout, batch dropped: ``28×28×1``.

    A rank-1 tensor (a flattened map, indices) has no batch axis to drop: it
    shows its one dim. Only rank 0 is ``scalar``.
    """
    user = a.to_user_layout(shape)
    if user is None:
        return "?"
    if not user:
        return "scalar"
    return clean("×".join(a.dim_text(d) for d in (user[1:] if len(user) > 1 else user)), 120)


def describe_layer(a: Analysis, layer) -> str:
    """``conv 3×3 same``, ``max-pool 2×2 /2``, ``upsample ×2 nearest``."""
    attrs = layer.attrs
    kind = layer.kind
    if kind in ("conv", "conv-transpose", "max-pool", "avg-pool", "lp-pool"):
        kernel = "×".join(str(k) for k in attrs.get("kernel") or [])
        text = f"{kind} {kernel}".strip()
        strides = attrs.get("stride") or []
        if any(s != 1 for s in strides):
            text += " /" + "×".join(str(s) for s in strides) if kind != "conv-transpose" else \
                " s" + "×".join(str(s) for s in strides)
        padding = attrs.get("padding")
        if kind.endswith("pool") and attrs.get("ceil_mode"):
            padding = "ceil"
        if padding and padding != "valid" or kind == "conv" and padding == "valid":
            text += f" {padding}"
        if any(d != 1 for d in attrs.get("dilation") or []):
            text += " dil" + "×".join(str(d) for d in attrs["dilation"])
        if attrs.get("group", 1) != 1:
            text += f" g{attrs['group']}"
        if attrs.get("separable"):
            text += " separable"
    elif kind in ("upsample", "downsample"):
        factors = attrs.get("factor") or []
        shown = [f for f in factors if f is not None]
        if attrs.get("to_size"):
            text = f"{kind} to size"
        elif shown and len(set(shown)) == 1:
            f = shown[0]
            text = f"{kind} ×{f:g}" if f >= 1 else f"{kind} ÷{1 / f:g}"
        else:
            text = kind
        mode = attrs.get("mode")
        if mode:
            text += f" {mode}"
    elif kind == "dense":
        text = "dense"
    else:
        text = kind
    if layer.norm:
        text += f" +{layer.norm}"
    if layer.activation:
        text += f" {layer.activation}"
    return text


def render(a: Analysis) -> str:
    lines: list[str] = []
    name = clean(os.path.basename(a.path), 60)
    inp, out = a.input_layer, a.output_layer
    lines.append(
        f"{name}  {clean(a.exporter.description, 60)} · opset {a.opset} · input "
        f"{shape_text(a, inp.out_shape)} ({a.layout}) → output {shape_text(a, out.out_shape)} · "
        f"{a.total_params:,} params")
    if a.choice:
        lines.append(f"analysed {clean(a.choice, 200)}")
    if a.layers.unknown_ops:
        ops = ", ".join(clean(op, 40) for op in sorted(a.layers.unknown_ops)[:10])
        more = f" and {len(a.layers.unknown_ops) - 10} more" if len(a.layers.unknown_ops) > 10 else ""
        lines.append(f"unknown ops {ops}{more}: shapes after them come from the file's value_info, "
                     "onnx shape inference, or stay unknown")
    lines.append("")
    lines.extend(_ladder_block(a))
    lines.append("")
    lines.extend(_layer_table(a))
    if a.is_encoder_decoder:
        lines.append("")
        lines.extend(_level_table(a))
    lines.append("")
    lines.extend(_findings_block(a))
    if a.verification is not None:
        lines.append("")
        lines.extend(clean(line, 400) for line in a.verification.text_lines())
    lines.append("")
    lines.append(verdict_line(a))
    return "\n".join(lines) + "\n"


def verdict_line(a: Analysis) -> str:
    counts = a.counts()
    tally = (f"{_count(counts['warning'], 'warning')}, {_count(counts['info'], 'note')}, "
             f"{_count(counts['error'], 'error')}")
    return f"verdict  {a.verdict}: {tally}"


def _ladder_block(a: Analysis) -> list:
    lines = [f"ladder   {clean(a.ladder_text(), 400)}"]
    if not a.is_encoder_decoder:
        return lines
    bottleneck = a.bottleneck
    values = a.bottleneck_values
    parts = [f"encoder {a.side_params('encoder'):,} params"]
    if bottleneck is not None:
        text = f"bottleneck {shape_text(a, (a.code or bottleneck).out_shape)}"
        if values is not None:
            text += f" = {clean(a.dim_text(values), 120) if not isinstance(values, int) else f'{values:,}'} values"
        if a.compression is not None:
            text += f" ({a.compression:.1f}× compression)"
        parts.append(text)
    parts.append(f"decoder {a.side_params('decoder'):,} params")
    lines.append("         " + " · ".join(parts))
    statement = round_trip_statement(a)
    if statement and a.is_reconstruction:
        lines.append(f"         round-trips for {statement}")
    return lines


def _layer_table(a: Analysis) -> list:
    st = a.structure
    encoder_decoder = a.is_encoder_decoder  # O(steps): once, not per row
    rows = [("layer", "kind", "output", "params", "level" if encoder_decoder else "")]
    for lid in a.table_order():
        layer = a.layer(lid)
        level_text = a.level_text(lid)
        side = st.side.get(lid, "")
        if not encoder_decoder:
            level_text = ""
        elif side:
            level_text = f"{side[:3]} {level_text}".strip()
        rows.append((clean(layer.name, 28), clean(describe_layer(a, layer), 60),
                     shape_text(a, layer.out_shape), f"{layer.params:,}" if layer.params else "",
                     level_text))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  " + "  ".join([
            r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
            r[3].rjust(widths[3]), r[4]]).rstrip())
    return lines


def _mark(a: Analysis, layer_name: str, level: int | None = None) -> str:
    codes = []
    for f in a.findings:
        if f.severity == "info" and f.code not in ("SC201",):
            continue
        if layer_name in f.layers[:1] or (f.code == "SC102" and level is not None and f.level == level
                                          and layer_name in f.layers):
            codes.append(f.code)
    return " ".join(f"[{c}]" for c in codes)


def _level_table(a: Analysis) -> list:
    st = a.structure
    rows: list[tuple] = [("level", "encoder", "decoder")]

    def learned_text(lid) -> str:
        layer = a.layer(lid)
        before = spatial_in(a.layers.layers, layer)
        after = spatial_of(layer)
        size = a.size_text(after) if before == after else f"{a.size_text(before)}→{a.size_text(after)}"
        extra = f" {layer.activation}" if layer.activation else ""
        text = clean(f"{clean(layer.name, 24)} {a.dim_text(layer.in_channels)}→{a.dim_text(layer.channels)} "
                     f"{size}{extra}", 120)
        mark = _mark(a, layer.name)
        return f"{text} {mark}".rstrip()

    def transition_text(lid, down: bool) -> str:
        layer = a.layer(lid)
        step = next(s for s in st.steps if s.layer == lid)
        arrow = "↓" if down else "↑"
        factor = f"{step.factor:g}" if isinstance(step.factor, (int, float)) else ""
        before = spatial_in(a.layers.layers, layer)
        after = spatial_of(layer)
        text = clean(f"{clean(layer.name, 24)} {clean(layer.kind, 24)} {arrow}{factor} "
                     f"{a.size_text(before)}→{a.size_text(after)}", 120)
        mark = _mark(a, layer.name, step.level_out if down else step.level_out)
        return f"{text} {mark}".rstrip()

    for level in st.levels:
        enc = [learned_text(l) for l in level.encoder_layers if a.layer(l).kind not in ("input",)]
        dec = [learned_text(l) for l in reversed(level.decoder_layers)]
        if level.index == st.bottleneck and not enc:
            enc = [clean(f"(bottleneck {a.size_text(level.encoder_size)})", 120)]
        for i in range(max(len(enc), len(dec), 1)):
            rows.append((str(level.index) if i == 0 else "", enc[i] if i < len(enc) else "",
                         dec[i] if i < len(dec) else ""))
        if level.index < st.bottleneck:
            down = transition_text(level.down, True) if level.down is not None else ""
            up = transition_text(level.up, False) if level.up is not None else ""
            rows.append(("", "  " + down, "  " + up))
    width = max(len(r[1]) for r in rows)
    lines = []
    for r in rows:
        lines.append(f"  {r[0]:>5}  {r[1].ljust(width)}   {r[2]}".rstrip())
    pairs = ", ".join(f"{clean(a.layer(p.encoder).name, 24)}↔{clean(a.layer(p.decoder).name, 24)}"
                      for p in st.pairs)
    if pairs:
        lines.append(f"  pairs  {pairs}")
    return lines


def _findings_block(a: Analysis) -> list:
    if not a.findings:
        return ["findings none"]
    lines = ["findings"]
    order = {"error": 0, "warning": 1, "info": 2}
    width = max(len(f.name) for f in a.findings)
    explained = set()
    for f in sorted(a.findings, key=lambda f: (order[f.severity], f.code)):
        lines.append(f"  {f.severity:<7} {f.code} {f.name.ljust(width)}  {clean(f.message, 400)}")
        if f.code not in explained:  # one line of why per code
            explained.add(f.code)
            lines.append(f"  {'':<7} {'':5} {'':{width}}  why: {RULES[f.code].why.split('. ')[0].rstrip('.')}.")
    return lines
