"""Generate the benchmark models into ``bench/models/`` (git-ignored).

Built with ``onnx.helper`` (a torch export of 30k nodes is far too slow),
deterministically (fixed seeds, fixed names), and checked once in
onnxruntime at a small input size when written. Files that already exist are
kept unless ``--force``; ``bench/models/manifest.json`` records what each file
is (nodes, bytes, input shape, the onnxruntime check).

    python bench/make_models.py            # everything (about a minute)
    python bench/make_models.py --quick    # only what `run.py --quick` needs
    python bench/make_models.py --force    # regenerate

Models:

``unet_100`` ``unet_1k`` ``unet_10k`` ``unet_30k``
    4-level U-Nets, NCHW ``1×3×64×64`` → ``1×3×64×64``. Each stage is a
    channel-changing Conv+BN+Relu and then ``B`` residual blocks
    (Conv+bias → norm → Relu → Conv+bias → norm → Add → Relu, the norm
    alternating BatchNormalization and Mul/Add); MaxPool down, ConvTranspose
    (odd levels) or Resize+Conv (even levels) up, Concat skips. Node counts
    grow with ``B`` (depth), not width: widths are 4, 8, 16, 16, bottleneck 16.
``big_inline`` ``big_external`` (+ ``.onnx.data``) ``big_stripped``
    One wide U-Net (widths 128…1024, bottleneck 2048, one residual block per
    stage, ~750 MB of float32 weights): inline in one file, as external data,
    and with every initializer over 4,096 elements stripped of its bytes
    (dims kept) — "the same graph without weights"; the stripped file is for
    static analysis only and is not run in onnxruntime.
``dynamic_1k``
    The 1k U-Net with symbolic ``N×3×H×W`` input and Resize (scales)
    upsampling everywhere.
``declared_10k``
    ``unet_10k`` as PyTorch's dynamo exporter writes a model: a ``value_info``
    declaration for every intermediate tensor (``onnx.shape_inference``
    output) and four ``metadata_props`` entries on every node (namespace,
    class hierarchy, FX node, name scopes): the same graph with ~50,000 more
    messages to read.
``ae200/ae_000.onnx`` … ``ae_199.onnx``
    200 small convolutional autoencoders (2-4 levels, 1 or 3 channels,
    28/32/48/64 px, kernel 3 or 5, pooling or strided conv down, ConvTranspose
    or Resize up, optional BN, sigmoid or none, and every seventh with an
    extra bottleneck conv).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
OPSET = 17
PRODUCER = "symcheck-bench"
PRODUCER_VERSION = "1"

#: U-Net name -> residual blocks per stage (9 stages: 4 encoder, bottleneck, 4 decoder).
UNET_BLOCKS = {"unet_100": 1, "unet_1k": 13, "unet_10k": 138, "unet_30k": 416}
UNET_WIDTHS = (4, 8, 16, 16)
UNET_BOTTLENECK = 16
UNET_SIZE = 64


# ---------------------------------------------------------------------------
# A small graph builder over onnx.helper.

@dataclass
class Graph:
    seed: int
    weight_scale: float = 0.02
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    counter: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def name(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def weight(self, name: str, shape: tuple, scale: float | None = None, const=None) -> str:
        if const is not None:
            array = np.full(shape, const, dtype=np.float32)
        else:
            array = self.rng.standard_normal(shape, dtype=np.float32)
            array *= np.float32(self.weight_scale if scale is None else scale)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def i64(self, name: str, values) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
        return name

    def f32(self, name: str, values) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=np.float32), name))
        return name

    def op(self, op_type: str, inputs: list, scope: str, **attrs) -> str:
        out = self.name(f"{scope}/{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    # -- layers ------------------------------------------------------------
    def conv(self, x: str, cin: int, cout: int, scope: str, k: int = 3, stride: int = 1,
             pad: int | None = None, scale: float | None = None) -> str:
        pad = k // 2 if pad is None else pad
        w = self.weight(f"{scope}.weight", (cout, cin, k, k), scale)
        b = self.weight(f"{scope}.bias", (cout,), 0.01)
        return self.op("Conv", [x, w, b], scope, kernel_shape=[k, k], strides=[stride, stride],
                       pads=[pad] * 4, dilations=[1, 1], group=1)

    def batchnorm(self, x: str, c: int, scope: str) -> str:
        ins = [x, self.weight(f"{scope}.gamma", (c,), const=1.0),
               self.weight(f"{scope}.beta", (c,), 0.01),
               self.weight(f"{scope}.mean", (c,), const=0.0),
               self.weight(f"{scope}.var", (c,), const=1.0)]
        return self.op("BatchNormalization", ins, scope, epsilon=1e-5)

    def affine(self, x: str, c: int, scope: str) -> str:
        """A folded norm as exporters write it: Mul by a scale, Add a shift."""
        y = self.op("Mul", [x, self.weight(f"{scope}.scale", (1, c, 1, 1), const=1.0)], scope)
        return self.op("Add", [y, self.weight(f"{scope}.shift", (1, c, 1, 1), 0.01)], scope)

    def norm(self, x: str, c: int, scope: str, kind: str) -> str:
        return self.batchnorm(x, c, scope) if kind == "bn" else self.affine(x, c, scope)

    def conv_norm_relu(self, x: str, cin: int, cout: int, scope: str, kind: str = "bn") -> str:
        y = self.conv(x, cin, cout, f"{scope}.conv")
        y = self.norm(y, cout, f"{scope}.norm", kind)
        return self.op("Relu", [y], scope)

    def res_block(self, x: str, c: int, scope: str, kind: str) -> str:
        y = self.conv(x, c, c, f"{scope}.conv1")
        y = self.norm(y, c, f"{scope}.norm1", kind)
        y = self.op("Relu", [y], f"{scope}.act1")
        y = self.conv(y, c, c, f"{scope}.conv2")
        y = self.norm(y, c, f"{scope}.norm2", kind)
        y = self.op("Add", [y, x], f"{scope}.add")
        return self.op("Relu", [y], f"{scope}.act2")

    def maxpool(self, x: str, scope: str) -> str:
        return self.op("MaxPool", [x], scope, kernel_shape=[2, 2], strides=[2, 2])

    def conv_transpose(self, x: str, cin: int, cout: int, scope: str) -> str:
        w = self.weight(f"{scope}.weight", (cin, cout, 2, 2))
        b = self.weight(f"{scope}.bias", (cout,), 0.01)
        return self.op("ConvTranspose", [x, w, b], scope, kernel_shape=[2, 2], strides=[2, 2])

    def resize2(self, x: str, scope: str) -> str:
        scales = self.f32(f"{scope}.scales", [1.0, 1.0, 2.0, 2.0])
        return self.op("Resize", [x, "", scales], scope, mode="nearest",
                       coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    def model(self, graph_name: str, inputs: list, outputs: list) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, graph_name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name=PRODUCER, producer_version=PRODUCER_VERSION)
        model.ir_version = 8
        return model


def unet(name: str, blocks: int, widths: tuple, bottleneck: int, *, seed: int,
         dims=(1, 3, UNET_SIZE, UNET_SIZE), up: str = "alternate",
         scale: float = 0.02) -> onnx.ModelProto:
    """A U-Net whose depth (residual blocks per stage) sets its node count."""
    g = Graph(seed, scale)
    cin = dims[1]
    x = "input"
    skips = []
    c_prev = cin
    for level, c in enumerate(widths):
        x = g.conv_norm_relu(x, c_prev, c, f"enc{level}.in")
        for b in range(blocks):
            x = g.res_block(x, c, f"enc{level}.block{b}", "bn" if b % 2 == 0 else "affine")
        skips.append((x, c))
        x = g.maxpool(x, f"enc{level}.pool")
        c_prev = c
    x = g.conv_norm_relu(x, c_prev, bottleneck, "mid.in")
    for b in range(blocks):
        x = g.res_block(x, bottleneck, f"mid.block{b}", "bn" if b % 2 == 0 else "affine")
    c_prev = bottleneck
    for level in reversed(range(len(widths))):
        skip, c = skips[level]
        use_transpose = up == "transpose" or (up == "alternate" and level % 2 == 1)
        if use_transpose:
            x = g.conv_transpose(x, c_prev, c, f"dec{level}.up")
        else:
            x = g.resize2(x, f"dec{level}.up")
            x = g.conv(x, c_prev, c, f"dec{level}.upconv", k=1, pad=0)
        x = g.op("Concat", [x, skip], f"dec{level}.cat", axis=1)
        x = g.conv_norm_relu(x, 2 * c, c, f"dec{level}.in")
        for b in range(blocks):
            x = g.res_block(x, c, f"dec{level}.block{b}", "bn" if b % 2 == 0 else "affine")
        c_prev = c
    y = g.conv(x, c_prev, dims[1], "head", k=1, pad=0)
    y = g.op("Sigmoid", [y], "head.act")
    g.nodes[-1].output[0] = "output"
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, list(dims))
    out_dims = list(dims) if all(isinstance(d, int) for d in dims) else [dims[0], dims[1], "H", "W"]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, out_dims)
    return g.model(name, [inp], [out])


def autoencoder(index: int) -> tuple[onnx.ModelProto, tuple]:
    """One of 200 small, varied convolutional autoencoders."""
    rng = np.random.default_rng(1000 + index)
    levels = int(rng.integers(2, 5))
    channels = int(rng.choice([1, 3]))
    size = int(rng.choice([28, 32, 48, 64]))
    k = int(rng.choice([3, 5]))
    down = str(rng.choice(["pool", "stride"]))
    up = str(rng.choice(["transpose", "resize"]))
    use_bn = bool(rng.integers(0, 2))
    sigmoid = bool(rng.integers(0, 2))
    base = int(rng.choice([8, 16, 32]))  # widths capped at 64
    extra = index % 7 == 0
    g = Graph(2000 + index, 0.1)
    x, c_prev = "input", channels
    widths = [min(base * 2 ** i, 64) for i in range(levels)]
    for level, c in enumerate(widths):
        if down == "stride":
            x = g.conv(x, c_prev, c, f"encoder.{level}.conv", k=k, stride=2)
        else:
            x = g.conv(x, c_prev, c, f"encoder.{level}.conv", k=k)
        if use_bn:
            x = g.batchnorm(x, c, f"encoder.{level}.bn")
        x = g.op("Relu", [x], f"encoder.{level}.act")
        if down == "pool":
            x = g.maxpool(x, f"encoder.{level}.pool")
        c_prev = c
    if extra:
        x = g.op("Relu", [g.conv(x, c_prev, c_prev, "bottleneck.conv", k=3)], "bottleneck.act")
    for level in reversed(range(levels)):
        c = widths[level - 1] if level > 0 else base
        if up == "transpose":
            x = g.conv_transpose(x, c_prev, c, f"decoder.{level}.up")
        else:
            x = g.resize2(x, f"decoder.{level}.up")
            x = g.conv(x, c_prev, c, f"decoder.{level}.conv", k=k)
        if use_bn:
            x = g.batchnorm(x, c, f"decoder.{level}.bn")
        x = g.op("Relu", [x], f"decoder.{level}.act")
        c_prev = c
    y = g.conv(x, c_prev, channels, "head", k=k)
    if sigmoid:
        y = g.op("Sigmoid", [y], "head.act")
    g.nodes[-1].output[0] = "output"
    dims = (1, channels, size, size)
    # A size that is not a multiple of 2**levels (28 with 3 levels) does not round-trip:
    # the declared output shape is what onnx's inference says.
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, list(dims))
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, None)
    model = g.model(f"ae_{index:03d}", [inp], [out])
    inferred = onnx.shape_inference.infer_shapes(model)
    model.graph.output[0].CopyFrom(inferred.graph.output[0])
    return model, dims


# ---------------------------------------------------------------------------

def ort_check(path: str, dims: tuple) -> dict:
    """Load ``path`` in onnxruntime and run it once on random input of ``dims``."""
    import onnxruntime as ort

    start = time.perf_counter()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random(dims, dtype=np.float32)
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    return {"ok": True, "run_input": list(dims), "output": list(y.shape),
            "seconds": round(time.perf_counter() - start, 3)}


def strip_weights(model: onnx.ModelProto, threshold: int = 4096) -> None:
    """Drop the bytes of every initializer over ``threshold`` elements (dims kept)."""
    for init in model.graph.initializer:
        if math.prod(init.dims) > threshold:
            for name in ("raw_data", "float_data", "int32_data", "int64_data", "double_data"):
                init.ClearField(name)
            del init.external_data[:]
            init.data_location = TensorProto.DEFAULT


def describe(path: str, model: onnx.ModelProto, **extra) -> dict:
    weights = sum(math.prod(i.dims) * 4 for i in model.graph.initializer)
    return {"file": os.path.relpath(path, MODELS), "nodes": len(model.graph.node),
            "initializer_bytes": weights, "file_bytes": os.path.getsize(path), **extra}


def make_unets(manifest: dict, names: list, force: bool) -> None:
    for name in names:
        path = os.path.join(MODELS, f"{name}.onnx")
        if os.path.exists(path) and not force and name in manifest:
            continue
        t0 = time.perf_counter()
        model = unet(name, UNET_BLOCKS[name], UNET_WIDTHS, UNET_BOTTLENECK,
                     seed=sum(map(ord, name)), scale=0.02)
        onnx.checker.check_model(model)
        onnx.save_model(model, path)
        built = time.perf_counter() - t0
        entry = describe(path, model, input=[1, 3, UNET_SIZE, UNET_SIZE], blocks=UNET_BLOCKS[name],
                         build_seconds=round(built, 2))
        entry["ort"] = ort_check(path, (1, 3, UNET_SIZE, UNET_SIZE))
        manifest[name] = entry
        print(f"{name}: {entry['nodes']:,} nodes, {entry['file_bytes'] / 1e6:.1f} MB, "
              f"built {built:.1f} s, onnxruntime {entry['ort']['seconds']} s", flush=True)


def make_dynamic(manifest: dict, force: bool) -> None:
    name = "dynamic_1k"
    path = os.path.join(MODELS, f"{name}.onnx")
    if os.path.exists(path) and not force and name in manifest:
        return
    model = unet(name, UNET_BLOCKS["unet_1k"], UNET_WIDTHS, UNET_BOTTLENECK, seed=7,
                 dims=("N", 3, "H", "W"), up="resize")
    onnx.checker.check_model(model)
    onnx.save_model(model, path)
    entry = describe(path, model, input=["N", 3, "H", "W"])
    entry["ort"] = ort_check(path, (2, 3, 48, 80))
    manifest[name] = entry
    print(f"{name}: {entry['nodes']:,} nodes, symbolic N×3×H×W, onnxruntime ran 2×3×48×80", flush=True)


def make_big(manifest: dict, force: bool, run_ort: bool) -> None:
    names = ["big_inline", "big_external", "big_stripped"]
    paths = {n: os.path.join(MODELS, f"{n}.onnx") for n in names}
    data = paths["big_external"] + ".data"
    if all(os.path.exists(p) for p in paths.values()) and os.path.exists(data) \
            and not force and all(n in manifest for n in names):
        return
    t0 = time.perf_counter()
    model = unet("big", 1, (128, 256, 512, 1024), 2048, seed=99, scale=0.01)
    onnx.save_model(model, paths["big_inline"])
    manifest["big_inline"] = describe(paths["big_inline"], model, input=[1, 3, UNET_SIZE, UNET_SIZE])
    if os.path.exists(data):
        os.remove(data)  # onnx appends to an existing data file
    onnx.save_model(model, paths["big_external"], save_as_external_data=True,
                    all_tensors_to_one_file=True, location=os.path.basename(data),
                    size_threshold=1024)
    manifest["big_external"] = describe(paths["big_external"], model,
                                        input=[1, 3, UNET_SIZE, UNET_SIZE],
                                        data_bytes=os.path.getsize(data))
    stripped = onnx.load(paths["big_external"], load_external_data=False)
    strip_weights(stripped)
    onnx.save_model(stripped, paths["big_stripped"])
    manifest["big_stripped"] = describe(paths["big_stripped"], model,
                                        input=[1, 3, UNET_SIZE, UNET_SIZE],
                                        note="initializers over 4,096 elements have no bytes; not runnable")
    del model, stripped
    print(f"big: {manifest['big_inline']['nodes']} nodes, "
          f"{manifest['big_inline']['file_bytes'] / 1e6:.0f} MB inline, "
          f"{manifest['big_stripped']['file_bytes'] / 1e3:.0f} kB stripped, "
          f"built {time.perf_counter() - t0:.1f} s", flush=True)
    for name in ("big_inline", "big_external"):
        if run_ort:
            manifest[name]["ort"] = ort_check(paths[name], (1, 3, UNET_SIZE, UNET_SIZE))
            print(f"{name}: onnxruntime {manifest[name]['ort']['seconds']} s", flush=True)
        else:
            manifest[name]["ort"] = {"ok": None, "note": "skipped (--no-ort-big)"}


def make_autoencoders(manifest: dict, force: bool, count: int = 200) -> None:
    folder = os.path.join(MODELS, "ae200")
    os.makedirs(folder, exist_ok=True)
    entry = manifest.get("ae200", {})
    if not force and entry.get("count") == count and all(
            os.path.exists(os.path.join(folder, f"ae_{i:03d}.onnx")) for i in range(count)):
        return
    t0 = time.perf_counter()
    nodes, size, failures = 0, 0, []
    for i in range(count):
        model, dims = autoencoder(i)
        onnx.checker.check_model(model)
        path = os.path.join(folder, f"ae_{i:03d}.onnx")
        onnx.save_model(model, path)
        nodes += len(model.graph.node)
        size += os.path.getsize(path)
        try:
            ort_check(path, dims)
        except Exception as exc:  # noqa: BLE001 - recorded, reported
            failures.append(f"ae_{i:03d}: {exc}")
    manifest["ae200"] = {"file": "ae200/", "count": count, "nodes": nodes, "file_bytes": size,
                         "ort": {"ok": not failures, "failures": failures}}
    print(f"ae200: {count} autoencoders, {nodes:,} nodes, {size / 1e6:.1f} MB, "
          f"all run in onnxruntime: {not failures}, {time.perf_counter() - t0:.1f} s", flush=True)
    if failures:
        print("\n".join(failures), file=sys.stderr)


def make_declared(manifest: dict, force: bool) -> None:
    name = "declared_10k"
    path = os.path.join(MODELS, f"{name}.onnx")
    if os.path.exists(path) and not force and name in manifest:
        return
    model = onnx.shape_inference.infer_shapes(onnx.load(os.path.join(MODELS, "unet_10k.onnx")))
    for i, node in enumerate(model.graph.node):
        for key, value in (
                ("namespace", f": __main__.UNet/{node.name}: torch.nn.modules.conv.Conv2d"),
                ("pkg.torch.onnx.class_hierarchy", "['__main__.UNet', 'torch.nn.modules.conv.Conv2d']"),
                ("pkg.torch.onnx.fx_node", f"%{node.op_type.lower()}_{i} : [num_users=1] = call_function"),
                ("pkg.torch.onnx.name_scopes", f"['', '{node.name}']")):
            node.metadata_props.add(key=key, value=value)
    onnx.save_model(model, path)
    entry = describe(path, model, input=[1, 3, UNET_SIZE, UNET_SIZE],
                     value_info=len(model.graph.value_info))
    entry["ort"] = ort_check(path, (1, 3, UNET_SIZE, UNET_SIZE))
    manifest[name] = entry
    print(f"{name}: {entry['nodes']:,} nodes, {entry['value_info']:,} value_info", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="regenerate files that exist")
    parser.add_argument("--quick", action="store_true",
                        help="only unet_100, unet_1k, dynamic_1k and ae200 (for run.py --quick)")
    parser.add_argument("--no-ort-big", action="store_true",
                        help="do not run the ~750 MB models in onnxruntime (memory-tight machines)")
    args = parser.parse_args(argv)
    os.makedirs(MODELS, exist_ok=True)
    manifest_path = os.path.join(MODELS, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path) and not args.force:
        with open(manifest_path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    t0 = time.perf_counter()
    try:
        names = ["unet_100", "unet_1k"] if args.quick else list(UNET_BLOCKS)
        make_unets(manifest, names, args.force)
        make_dynamic(manifest, args.force)
        make_autoencoders(manifest, args.force)
        if not args.quick:
            make_declared(manifest, args.force)
            make_big(manifest, args.force, not args.no_ort_big)
    finally:
        with open(manifest_path, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1, sort_keys=True)
    print(f"models ready in {MODELS} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
