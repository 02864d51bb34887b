"""render_many splices pre-encoded file records; the document must equal a plain json.dumps."""

import json
import math
import random
import string

import pytest

from symcheck.errors import SymcheckError
from symcheck.paths import sort_key
from symcheck.render import json as json_render


def _value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([1, 2.5, None, True, 'a\nb"\u202e', "é", [], {}])
    if roll < 0.6:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(string.ascii_letters): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


@pytest.mark.parametrize("seed", range(40))
def test_spliced_document_equals_json_dumps(seed):
    rng = random.Random(seed)
    records = [{"file": f"m{rng.randint(0, 99)}/x{i}.onnx", "counts": {"error": 0, "warning": 1},
                "data": _value(rng)} for i in range(rng.randint(0, 4))]
    errors = [("z.onnx", SymcheckError("not-onnx", "bad\n\0"))] if rng.random() < 0.5 else []
    files = sorted(records, key=lambda d: sort_key(d["file"]))
    expected = json.dumps({"schema": "symcheck-report", "schema_version": json_render.SCHEMA_VERSION,
                           "symcheck_version": json_render.__version__, "files": files,
                           "errors": [{"file": p, "code": e.code, "reason": e.reason} for p, e in errors],
                           "summary": json_render.summary(files, errors)},
                          indent=2, ensure_ascii=False) + "\n"
    assert json_render.render_many(records, errors) == expected
    encoded = [json_render.encode_record(r) for r in records]
    assert json_render.render_many(records, errors, encoded) == expected


@pytest.mark.parametrize("seed", range(20))
def test_layers_are_one_compact_line_each(seed):
    """Only the top-level ``layers`` list changes layout; the document means the same."""
    rng = random.Random(seed)
    layers = [{"name": f"l{i}\n\0\"layers\": \"\\u0000symcheck-layers\\u0000\"", "data": _value(rng)}
              for i in range(rng.randint(1, 5))]
    record = {"file": "a.onnx", "counts": {}, "input": {"name": "\0symcheck-layers\0"},
              "layers": layers, "after": _value(rng)}
    text = json_render.encode_record(record)
    assert json.loads(text) == record
    lines = text.splitlines()
    start = lines.index('  "layers": [')
    assert [json.loads(line.strip().rstrip(",")) for line in lines[start + 1:start + 1 + len(layers)]] == layers
    assert lines[start + 1 + len(layers)] in ("  ],", "  ]")
    document = json_render.render_many([record], [], [text])
    assert json.loads(document)["files"] == [record]


@pytest.mark.parametrize("seed", range(20))
def test_records_encoded_at_depth_2_are_the_depth_0_text_moved_in(seed):
    """Workers encode at depth 2; render_many takes either depth and writes the same."""
    rng = random.Random(seed)
    records = [{"file": f"d/x{i}.onnx", "counts": {"warning": i}, "first": _value(rng),
                "layers": [{"n": f"l{j}\n\"layers\": \"\\u0000symcheck-layers\\u0000\"", "v": _value(rng)}
                           for j in range(rng.randint(0, 3))], "last": _value(rng)}
               for i in range(rng.randint(1, 3))]
    for record in records:
        assert json_render.encode_record(record, 2) == json_render.encode_record(record).replace("\n", "\n    ")
    flat = [json_render.encode_record(r) for r in records]
    nested = [json_render.encode_record(r, 2) for r in records]
    document = json_render.render_many(records, [], flat)
    assert json_render.render_many(records, [], nested, depth=2) == document
    assert json.loads(document)["files"] == sorted(records, key=lambda d: sort_key(d["file"]))


@pytest.mark.parametrize("seed", range(20))
def test_report_writer_writes_each_file_as_it_comes_and_ends_as_render_many(seed):
    """Directory mode streams the document: a file's text is written when the file is
    added, and the pieces joined are render_many's document, errors and summary included."""
    rng = random.Random(seed)
    records = sorted(({"file": f"m{rng.randint(0, 9)}/x{i}.onnx",
                       "counts": {"error": rng.randint(0, 1), "warning": rng.randint(0, 2), "info": 0},
                       "data": _value(rng)} for i in range(rng.randint(0, 4))),
                     key=lambda d: sort_key(d["file"]))
    errors = [(f"e{i}.onnx", SymcheckError("not-onnx", "bad\n\0")) for i in range(rng.randint(0, 2))]
    pieces: list = []
    writer = json_render.ReportWriter(pieces.append)
    for i, record in enumerate(records):
        depth = rng.choice([0, 2])
        writer.add(record, json_render.encode_record(record, depth), depth)
        assert len(pieces) == i + 1
        head = json.loads("".join(pieces) + "\n  ]\n}")  # what is written so far is the document so far
        assert head["files"] == records[:i + 1]
    writer.close(list(reversed(errors)))
    assert "".join(pieces) == json_render.render_many(records, errors)


def _plain_reference(value):
    """What render.json._plain means, written the obvious way (an Expr is its text)."""
    match value:
        case dict():
            return {str(k): _plain_reference(value[k]) for k in sorted(value)}
        case list() | tuple():
            return list(map(_plain_reference, value))
        case bool() | int() | str() | None:
            return value
        case float():
            return int(value) if value.is_integer() else value
        case _:
            return str(value)


def test_plain_equals_the_obvious_conversion_in_value_types_and_key_order():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from symcheck.dims import Expr

    leaves = st.one_of(st.integers(), st.booleans(), st.none(), st.text(max_size=4),
                       st.floats(allow_nan=False), st.sampled_from([Expr.symbol("H"), 2 * Expr.symbol("W") + 1]))

    def containers(inner):
        text_keys = st.dictionaries(st.text(max_size=3), inner, max_size=4)
        int_keys = st.dictionaries(st.integers(-3, 3), inner, max_size=3)
        return st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple),
                         text_keys, int_keys)

    @settings(max_examples=400, deadline=None, database=None)
    @given(st.recursive(leaves, containers, max_leaves=20))
    def check(value):
        got, expected = json_render._plain(value), _plain_reference(value)
        assert got == expected  # tells the key 1 from "1"
        # json.dumps tells 1 from 1.0 and keeps key order, which == on dicts would not
        assert json.dumps(got) == json.dumps(expected)

    check()


def test_indented_writes_what_json_dumps_writes():
    """render.json.indented is json.dumps(indent=2, ensure_ascii=False), at any level."""
    import enum

    from hypothesis import given, settings
    from hypothesis import strategies as st

    class Level(enum.IntEnum):
        LOW = 1

    leaves = st.one_of(st.integers(), st.booleans(), st.none(), st.text(max_size=5),
                       st.floats(), st.just(Level.LOW))
    keys = st.one_of(st.text(max_size=3), st.integers(-2, 2), st.floats(allow_nan=False, width=16),
                     st.booleans(), st.none())

    def containers(inner):
        return st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple),
                         st.lists(st.text(max_size=3), max_size=4),  # the all-strings shortcut
                         st.dictionaries(keys, inner, max_size=4))

    @settings(max_examples=500, deadline=None, database=None)
    @given(st.recursive(leaves, containers, max_leaves=25), st.integers(0, 3))
    def check(value, level):
        expected = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + "  " * level)
        assert json_render.indented(value, level) == expected

    check()
    fixed = [[math.nan, math.inf, -math.inf, -0.0, 1e300, 5e-324], {1.5: [], True: {}, None: "x", -1: 2},
             {"levels": [["a", "b"], [], [{}]], "é\u2028": Level.LOW}]
    for value in fixed:
        for level in (0, 2):
            expected = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + "  " * level)
            assert json_render.indented(value, level) == expected
    for bad in ({1, 2}, {"a": object()}, {(1, 2): 3}):
        with pytest.raises(TypeError):
            json.dumps(bad)
        with pytest.raises(TypeError):
            json_render.indented(bad)


def test_layer_rows_written_directly_are_the_dicts_encoded():
    """encode_analysis writes each layer row itself and reuses the text of repeated
    attributes and descriptions: the document is encode_record(analysis_dict(a)),
    for values of any type, and attributes that only look alike are not confused."""
    import symcheck
    from symcheck.dims import Expr

    from .conftest import sample

    a = symcheck.analyze(sample("keras_cae.onnx"))

    def same(depth: int) -> bool:
        return json_render.encode_analysis(a, depth) == json_render.encode_record(json_render.analysis_dict(a), depth)

    assert same(0) and same(2)
    alike = {"kind": "conv", "op": "Conv", "activation": None, "norm": None}  # all but the attributes
    odd = [{"params": True}, {"params": 2.5}, {"nodes": ["n", 1]}, {"activation": 3},
           {"attrs": {"kernel": [3, 3], "x": Expr.symbol("H")}}, {"attrs": {"f": 2.0, "t": (1, 2)}},
           *({**alike, "attrs": attrs} for attrs in (
               {"k": b"ab"}, {"k": bytearray(b"ab")}, {"k": [b"ab"]}, {"k": [bytearray(b"ab")]},
               {"group": 1}, {"group": True}, {"group": 2}, {"group": 2.0}, {1: "x"}, {1.0: "x"},
               {"a": [[1, True]]}, {"a": [[1, 1]]}, {"kernel": [3, 3]}, {"kernel": (3, 3)})),
           {"kind": "upsample", "attrs": {"mode": ["a"]}}, {"kind": "upsample", "attrs": {"mode": ("a",)}}]
    layers = [a.layers.layers[lid] for lid in sorted(a.layers.layers)]
    for layer, change in zip(layers * 2, odd):
        for field, value in change.items():
            setattr(layer, field, value)
    assert same(0) and same(2)
    layers[-1].name = None  # a name that is not text: all rows from their dicts
    assert same(2)
