"""Make ``keras_cae.onnx``: the Keras blog convolutional autoencoder, exported by Keras.

The model is exactly the one quoted in the founding question (``seed/``), from
https://blog.keras.io/building-autoencoders-in-keras.html: input 28x28x1 (NHWC),
three conv + 'same' max-pool stages down to 4x4x8, then conv + UpSampling2D back up,
with a 'valid' conv (16x16 -> 14x14) repairing the 7 -> 4 rounding. 4,385 parameters.

Weights are random (seeded); every bias is set to a small non-zero value because
tf2onnx drops all-zero biases, and the file should hold all 4,385 parameters as a
trained model's file would. The export goes through Keras's own ONNX path,
``model.export(..., format="onnx")``, which calls ``tf2onnx.convert.from_function``.
The batch dimension stays symbolic, as Keras writes it.

Weights, ops and layer scope names are the same on every run, but the file is not
byte-for-byte reproducible: tf2onnx's constant folding and de-duplication keep a
different copy of identical shape constants from run to run, so a few constant
initializers (``const_ends__113`` vs ``const_fold_opt__168``) and optimizer-made nodes
(``Transpose__124`` vs ``Transpose__126``) change names.

Needs TensorFlow, which symcheck and its tests do not: in a separate venv,
``pip install -r samples/requirements-keras.txt``. Run from anywhere (a fresh
process, so Keras layer names start at ``conv2d``)::

    KERAS_BACKEND=tensorflow python samples/make_keras.py
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path

import keras
import numpy as np
import onnx
import onnxruntime as ort
from keras import layers

OUT = Path(__file__).resolve().parent / "keras_cae.onnx"
SEED = 0


def build_model() -> keras.Model:
    """The blog's autoencoder, layer for layer, with Keras's default layer names."""
    input_img = keras.Input(shape=(28, 28, 1), name="input_img")
    x = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    encoded = layers.MaxPooling2D((2, 2), padding="same")(x)  # (4, 4, 8)

    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(16, (3, 3), activation="relu")(x)  # 'valid': 16x16 -> 14x14
    x = layers.UpSampling2D((2, 2))(x)
    decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    return keras.Model(input_img, decoded, name="keras_blog_cae")


def randomize_biases(model: keras.Model, rng: np.random.Generator) -> None:
    """Give every conv a small non-zero bias so tf2onnx keeps it in the file."""
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            shape = tuple(layer.bias.shape)
            layer.bias.assign(rng.uniform(0.01, 0.1, size=shape).astype("float32"))


def main() -> None:
    keras.utils.set_random_seed(SEED)
    model = build_model()
    randomize_biases(model, np.random.default_rng(SEED))
    assert model.count_params() == 4385, model.count_params()
    assert [layer.name for layer in model.layers][1] == "conv2d", "run in a fresh process"

    x = np.random.default_rng(SEED + 1).random((2, 28, 28, 1), dtype=np.float32)
    expected = model.predict(x, verbose=0)

    model.export(str(OUT), format="onnx", verbose=False)

    session = ort.InferenceSession(str(OUT), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {session.get_inputs()[0].name: x})
    assert actual.shape == (2, 28, 28, 1), actual.shape
    np.testing.assert_allclose(actual, expected, atol=1e-4)

    graph = onnx.load(str(OUT)).graph
    weights = {t.name: t for t in graph.initializer}
    conv_params = sum(
        int(np.prod(weights[name].dims))
        for node in graph.node if node.op_type == "Conv"
        for name in node.input[1:] if name in weights
    )
    assert conv_params == 4385, f"file holds {conv_params} conv parameters"
    print(f"wrote {OUT.name} ({OUT.stat().st_size:,} bytes), matches Keras (atol 1e-4)")
    print("ops:", " ".join(node.op_type for node in graph.node))


if __name__ == "__main__":
    main()
