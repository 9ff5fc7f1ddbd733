"""The trained reference models that ship in the source tree's models/onnx folder."""

from pathlib import Path

from .errors import ModelLoadError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models" / "onnx"


def bundled_model(name):
    """Path of a bundled reference model such as 'mnist_cnn_relu'."""
    path = MODELS_DIR / f"{name}.onnx"
    if not path.is_file():
        raise ModelLoadError(
            f"bundled model {name!r} not found in {MODELS_DIR}; the reference models ship with the source "
            "tree: install from a clone with `pip install -e .`"
        )
    return path

