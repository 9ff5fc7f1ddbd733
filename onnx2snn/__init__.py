"""onnx2snn: trained ANN in ONNX -> low-latency spiking neural network.

The functions most users need are here; everything else stays importable from its module. They are loaded on
first use, so ``import onnx2snn`` stays light (no torch or ONNX Runtime until a function is called).

Example::

    import onnx2snn

    x_train, _ = onnx2snn.mnist5k("train")
    x_test, y_test = onnx2snn.mnist5k("test")
    snn = onnx2snn.convert("models/onnx/mnist_cnn_relu.onnx", x_train[:1000], recipe="bu2022")
    print(onnx2snn.evaluate(snn, x_test, y_test).snn_accuracy)
"""

import importlib
import sys
import types

__version__ = "0.1.0"

# public name -> (module, attribute): loaded by __getattr__ on first use
_EXPORTS = {
    "convert": ("onnx2snn.convert", "convert"),
    "evaluate": ("onnx2snn.report.evaluate", "evaluate"),
    "diagnose": ("onnx2snn.report.diagnose", "diagnose"),
    "load": ("onnx2snn.load.network", "load"),
    "Recipe": ("onnx2snn.recipes", "Recipe"),
    "RECIPES": ("onnx2snn.recipes", "NAMES"),
    "SnnModel": ("onnx2snn.convert", "SnnModel"),
    "mnist5k": ("onnx2snn.data.datasets", "mnist5k"),
    "digits": ("onnx2snn.data.datasets", "digits"),
    "load_data": ("onnx2snn.data.sources", "load_data"),
    "bundled_model": ("onnx2snn.load.bundled", "bundled_model"),
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'onnx2snn' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)


class _Package(types.ModuleType):
    """Keeps the functions convert and load under their names: the import system sets the module
    onnx2snn.convert and the package onnx2snn.load as attributes of this package when they are first imported,
    which would hide the functions (both stay importable: ``from onnx2snn.convert import SnnModel``)."""

    def __setattr__(self, name, value):
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
