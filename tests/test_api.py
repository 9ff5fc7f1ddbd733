"""The top-level API: ``import onnx2snn`` gives convert, evaluate, diagnose, load, Recipe and the data helpers,
loads them lazily, and keeps the functions under their names when their modules are imported."""

import subprocess
import sys

import numpy as np

import onnx2snn
from onnx2snn.convert import SnnModel  # importing the submodule must not hide the function
from snnrt.simulate import SpikingNetwork


def test_import_is_light():
    code = ("import sys, onnx2snn; heavy = [m for m in ('torch', 'onnxruntime', 'matplotlib', 'sklearn', 'onnx') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_functions_keep_their_names_over_their_modules():
    import onnx2snn.convert  # noqa: F401  a module and a subpackage named as functions, imported explicitly
    import onnx2snn.load.network  # noqa: F401

    for name in ("convert", "evaluate", "diagnose", "load"):
        assert callable(getattr(onnx2snn, name)), name
    assert {"convert", "Recipe", "mnist5k", "load_data"} <= set(dir(onnx2snn))


def test_every_public_name_has_a_docstring_with_an_example():
    for name in ("convert", "evaluate", "diagnose", "load", "Recipe", "mnist5k", "digits", "load_data",
                 "bundled_model"):
        assert "Example::" in getattr(onnx2snn, name).__doc__, name


def test_convert_evaluate_diagnose_and_load_from_the_top(tmp_path):
    x, y = onnx2snn.digits("test")
    ann = onnx2snn.bundled_model("digits_mlp")
    path = tmp_path / "mlp.snn.onnx"
    snn = onnx2snn.convert(ann, onnx2snn.digits("train")[0][:200], recipe="bu2022", output=path)
    assert isinstance(snn, SnnModel)
    result = onnx2snn.evaluate(snn, x[:100], y[:100], timesteps=(4, 32), ann=ann)
    assert result.snn_accuracy[32] > 0.85 and result.ann_accuracy > 0.9
    net = onnx2snn.load(path)
    assert isinstance(net, SpikingNetwork)
    predictions = net.run(x[:100], 32).predictions()[-1].cpu().numpy()
    assert np.mean(predictions == y[:100]) == result.snn_accuracy[32]
    found = onnx2snn.diagnose(snn, ann, x[:50], timesteps=(4,))
    assert found.worst.name in {layer.name for layer in found.layers}
