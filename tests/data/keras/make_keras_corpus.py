"""Make the committed Keras exports of the architecture corpus (tf2onnx).

Writes next to this script, each checked against Keras in onnxruntime (atol 1e-4):

- ``keras_unet.onnx``: a 2-level U-Net, input 32x32x1 (NHWC), Conv2D 'same', MaxPooling2D,
  Conv2DTranspose(k3, s2, 'same') up-convs (checkerboard risk) and Concatenate skips.
- ``keras_conv1d.onnx``: a Conv1D autoencoder (widths 8, 8, 4) on signals of length 100; the third
  MaxPooling1D('same') rounds 25 up to 13, UpSampling1D goes back to 104 and a
  Cropping1D((2, 2)) trims it to 100.
- ``keras_dense.onnx``: a strided-conv autoencoder with a dense bottleneck (Flatten, Dense
  16, Dense 128, Reshape), input 16x16x1, Conv2DTranspose(k4, s2) decoder.

Every layer has an explicit name, every bias is random and non-zero (seed 0), the
batch dim is symbolic and the spatial dims are static. Needs TensorFlow, Keras 3 and
tf2onnx (not dependencies of symcheck or its tests)::

    /tmp/tfvenv/bin/python tests/data/keras/make_keras_corpus.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import keras  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402
from keras import layers  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 0
OPSET = 15


def keras_unet() -> keras.Model:
    x_in = keras.Input((32, 32, 1), name="input_img")
    e1 = layers.Conv2D(4, 3, padding="same", activation="relu", name="e1")(x_in)
    p1 = layers.MaxPooling2D(2, padding="same", name="p1")(e1)
    e2 = layers.Conv2D(8, 3, padding="same", activation="relu", name="e2")(p1)
    p2 = layers.MaxPooling2D(2, padding="same", name="p2")(e2)
    mid = layers.Conv2D(16, 3, padding="same", activation="relu", name="mid")(p2)
    u2 = layers.Conv2DTranspose(8, 3, strides=2, padding="same", name="up2")(mid)
    c2 = layers.Concatenate(name="cat2")([u2, e2])
    d2 = layers.Conv2D(8, 3, padding="same", activation="relu", name="d2")(c2)
    u1 = layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="up1")(d2)
    c1 = layers.Concatenate(name="cat1")([u1, e1])
    d1 = layers.Conv2D(4, 3, padding="same", activation="relu", name="d1")(c1)
    out = layers.Conv2D(1, 1, activation="sigmoid", name="head")(d1)
    return keras.Model(x_in, out, name="keras_unet")


def keras_conv1d() -> keras.Model:
    x_in = keras.Input((100, 1), name="signal")
    x = layers.Conv1D(8, 3, padding="same", activation="relu", name="c1")(x_in)
    x = layers.MaxPooling1D(2, padding="same", name="p1")(x)
    x = layers.Conv1D(8, 3, padding="same", activation="relu", name="c2")(x)
    x = layers.MaxPooling1D(2, padding="same", name="p2")(x)
    x = layers.Conv1D(4, 3, padding="same", activation="relu", name="c3")(x)
    x = layers.MaxPooling1D(2, padding="same", name="p3")(x)
    x = layers.UpSampling1D(2, name="u3")(x)
    x = layers.Conv1D(8, 3, padding="same", activation="relu", name="c4")(x)
    x = layers.UpSampling1D(2, name="u2")(x)
    x = layers.Conv1D(8, 3, padding="same", activation="relu", name="c5")(x)
    x = layers.UpSampling1D(2, name="u1")(x)
    x = layers.Cropping1D((2, 2), name="crop")(x)
    out = layers.Conv1D(1, 3, padding="same", name="head")(x)
    return keras.Model(x_in, out, name="keras_conv1d")


def keras_dense() -> keras.Model:
    x_in = keras.Input((16, 16, 1), name="input_img")
    x = layers.Conv2D(4, 4, strides=2, padding="same", activation="relu", name="e1")(x_in)
    x = layers.Conv2D(8, 4, strides=2, padding="same", activation="relu", name="e2")(x)
    x = layers.Flatten(name="flat")(x)
    code = layers.Dense(16, activation="relu", name="code")(x)
    x = layers.Dense(128, activation="relu", name="expand")(code)
    x = layers.Reshape((4, 4, 8), name="unflat")(x)
    x = layers.Conv2DTranspose(4, 4, strides=2, padding="same", activation="relu", name="d2")(x)
    out = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid", name="d1")(x)
    return keras.Model(x_in, out, name="keras_dense")


def randomize_biases(model: keras.Model, rng: np.random.Generator) -> None:
    for layer in model.layers:
        weights = layer.get_weights()
        if len(weights) == 2:  # kernel, bias
            weights[1] = rng.uniform(-0.1, 0.1, weights[1].shape).astype(np.float32)
            layer.set_weights(weights)


def export(model: keras.Model, filename: str) -> None:
    path = HERE / filename
    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=model.input.name),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET, output_path=str(path))
    x = np.random.default_rng(SEED).random((2, *model.input_shape[1:]), dtype=np.float32)
    want = model.predict(x, verbose=0)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, want, atol=1e-4)
    print(f"{filename}: {path.stat().st_size:,} bytes, {model.count_params():,} params, "
          f"output {got.shape}")


def main() -> None:
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    for build, filename in ((keras_unet, "keras_unet.onnx"), (keras_conv1d, "keras_conv1d.onnx"),
                            (keras_dense, "keras_dense.onnx")):
        model = build()
        randomize_biases(model, rng)
        export(model, filename)


if __name__ == "__main__":
    main()
