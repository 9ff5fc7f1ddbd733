"""The trained reference models that ship in the source tree's models/onnx folder."""

from pathlib import Path

from ..errors import ModelLoadError

MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "onnx"


def bundled_model(name):
    """Path of a bundled reference model: 'mnist_cnn_relu', 'mnist_cnn_clip', 'mnist_cnn_maxpool' or 'digits_mlp'.

    Example::

        snn = onnx2snn.convert(onnx2snn.bundled_model("digits_mlp"), onnx2snn.digits("train")[0])
    """
    path = MODELS_DIR / f"{name}.onnx"
    if not path.is_file():
        raise ModelLoadError(
            f"bundled model {name!r} not found in {MODELS_DIR}; the reference models ship with the source "
            "tree: install from a clone with `pip install -e .`"
        )
    return path

