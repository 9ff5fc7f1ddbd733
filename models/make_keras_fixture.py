"""Write models/fixtures/keras_cnn.onnx and keras_cnn_io.npz: a small seeded Keras CNN converted by tf2onnx.

The npz holds a fixed NHWC input batch `x` (4, 28, 28, 1; Gaussian noise at four scales so that the
outputs differ) and Keras's own output `y_keras` (4, 10), so tests can check the ONNX file without
TensorFlow. Weights and biases are random (seeded); BatchNormalization gets random moving statistics.

Needs its own venv, kept apart from the project's (TensorFlow pins an old numpy/protobuf):

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install "tensorflow-cpu==2.15.1" "tf2onnx==1.16.1" "numpy<2"
    /tmp/tfenv/bin/python models/make_keras_fixture.py

Resolved there: tensorflow-cpu 2.15.1 (Keras 2.15.0), tf2onnx 1.16.1, onnx 1.17.0, numpy 1.26.4,
protobuf 3.20.3.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf
import tf2onnx

OPSET = 13
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def build_model() -> tf.keras.Model:
    """Conv-BN-MaxPool-Conv-GlobalAveragePool-Dense-Dense(softmax) on 28x28x1 NHWC input."""
    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    bias = {"bias_initializer": tf.keras.initializers.RandomUniform(-0.5, 0.5)}
    model = tf.keras.Sequential(
        [
            tf.keras.Input((28, 28, 1), name="input"),
            layers.Conv2D(8, 3, padding="same", activation="relu", **bias),
            layers.BatchNormalization(),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, activation="relu", **bias),
            layers.GlobalAveragePooling2D(),
            layers.Dense(32, activation="relu", **bias),
            layers.Dense(10, activation="softmax", **bias),
        ],
        name="keras_cnn",
    )
    rng = np.random.default_rng(0)
    bn = model.layers[1]
    channels = bn.gamma.shape[0]
    bn.set_weights(
        [
            rng.uniform(0.5, 1.5, channels),
            rng.uniform(-0.5, 0.5, channels),
            rng.uniform(0.0, 0.5, channels),
            rng.uniform(0.5, 2.0, channels),
        ]
    )
    return model


def main() -> None:
    """Build, convert at opset 13 and save the ONNX file and the reference input/output."""
    model = build_model()
    scales = np.array([0.5, 1.0, 2.0, 4.0], dtype=np.float32).reshape(4, 1, 1, 1)
    x = np.random.default_rng(1).standard_normal((4, 28, 28, 1), dtype=np.float32) * scales
    y_keras = model(x, training=False).numpy()
    spec = (tf.TensorSpec((None, 28, 28, 1), tf.float32, name="input"),)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    tf2onnx.convert.from_keras(
        model, input_signature=spec, opset=OPSET, output_path=str(FIXTURES / "keras_cnn.onnx")
    )
    np.savez(FIXTURES / "keras_cnn_io.npz", x=x, y_keras=y_keras)


if __name__ == "__main__":
    main()
