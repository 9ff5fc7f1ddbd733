"""One verdict per model: inspect and convert list the same complete set of blocking nodes (each once), inspect
still reports MACs and sites where the runtime cannot run the graph, shape-only arithmetic never blocks, and
eval refuses outputs that are not class scores."""

import functools
import re

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from onnx2snn.cli import main
from onnx2snn.convert import convert
from onnx2snn.errors import UnsupportedModelError
from onnx2snn.find_sites import find_sites
from onnx2snn.load import load_model
from onnx2snn.normalize import normalize
from tests import modern_models
from tests.conftest import make_model

BLOCKED = ("vit", "convnext", "mobilenetv3", "lstm", "relu_layernorm")


def _invoke(*args):
    return CliRunner().invoke(main, ["--quiet", *map(str, args)])


@functools.cache
def _export(name):
    return modern_models.export(name).SerializeToString()


@pytest.fixture
def saved(tmp_path):
    def save(name):
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(_export(name))
        return path

    return save


def _problems(model):
    return find_sites(normalize(load_model(model, float_input=False))[0]).problems


def _listed(text):
    """The 'node NAME (Op): reason' lines of inspect's or convert's output."""
    return sorted(re.findall(r"node '[^']+' \([A-Za-z]+\): [^\n]+", text))


@pytest.mark.parametrize("name", BLOCKED)
def test_inspect_and_convert_list_the_same_blockers_each_once(name, saved, tmp_path):
    path = saved(name)
    inspected = _invoke("inspect", path)
    assert inspected.exit_code == 0, inspected.output
    assert "MACs per sample" in inspected.output
    out = tmp_path / "out.snn.onnx"
    converted = _invoke("convert", path, "-o", out, "--calib", _calibration(name, tmp_path))
    assert converted.exit_code == 2 and not out.exists()
    listed = _listed(inspected.output)
    assert listed and listed == _listed(converted.output) == sorted(_problems(onnx.load(path)))
    names = [line.split("'")[1] for line in listed]
    assert len(names) == len(set(names))


def _calibration(name, tmp_path):
    path = tmp_path / "calib.npy"
    np.save(path, modern_models.example(name, 4).numpy().astype(np.float32))
    return path


def test_vit_blockers_are_its_normalizations_products_softmax_and_gelu_not_the_attention_scale():
    ops = sorted(re.findall(r"\((\w+)\):", "\n".join(_problems(onnx.load_from_string(_export("vit"))))))
    assert ops == ["Erf", "LayerNormalization", "LayerNormalization", "MatMul", "MatMul", "Mul", "Softmax"]


def test_attention_scale_from_a_dynamic_shape_is_not_a_blocker():
    """1/sqrt(d) with d read from the shape of x, whose dims are not known, scales the data: nothing blocks."""
    nodes = [
        helper.make_node("Relu", ["input"], ["r"]),
        helper.make_node("Shape", ["input"], ["shape"]),
        helper.make_node("Gather", ["shape", "last"], ["d"]),
        helper.make_node("Cast", ["d"], ["df"], to=TensorProto.FLOAT),
        helper.make_node("Sqrt", ["df"], ["root"]),
        helper.make_node("Div", ["r", "root"], ["out"]),
    ]
    model = make_model(nodes, [("input", ["N", "D"])], [("out", ["N", "D"])], {"last": np.array(1, np.int64)})
    assert not _problems(model)
    product = make_model([helper.make_node("Relu", ["input"], ["r"]), helper.make_node("Mul", ["r", "input"], ["out"])],
                         [("input", ["N", 4])], [("out", ["N", 4])])
    assert [p.split(":")[0] for p in _problems(product)] == ["node 'Mul_1' (Mul)"]


def test_a_node_the_runtime_cannot_run_blocks_even_on_constants_only(saved):
    nodes = [helper.make_node("Relu", ["input"], ["r"]), helper.make_node("CumSum", ["r", "axis"], ["out"])]
    model = make_model(nodes, [("input", ["N", 4])], [("out", ["N", 4])], {"axis": np.array(1, np.int64)})
    assert _problems(model) == ["node 'CumSum_1' (CumSum): the runtime cannot run op CumSum (opset 17)"]


def test_lstm_classifier_names_its_integer_input_and_recurrent_node(saved):
    text = _invoke("inspect", saved("lstm")).output
    assert "(Gather): reads the integer graph input 'input' (INT64)" in text
    assert "(LSTM): a recurrent op" in text
    assert "MACs per sample (from shapes):" in text and "activations that become IF neurons: 1" in text


def test_relu_net_with_one_layernorm_writes_no_file(tmp_path):
    with pytest.raises(UnsupportedModelError, match=r"\(LayerNormalization\)"):
        convert(onnx.load_from_string(_export("relu_layernorm")), modern_models.example("relu_layernorm", 4).numpy(),
                output=tmp_path / "x.snn.onnx")
    assert not (tmp_path / "x.snn.onnx").exists()


def test_segmentation_output_converts_and_eval_refuses_it_clearly(saved, tmp_path):
    x = modern_models.example("unet", 6).numpy()
    data = tmp_path / "seg.npz"
    np.savez(data, x=x, y=np.zeros(len(x), np.int64))
    snn = tmp_path / "unet.snn.onnx"
    converted = _invoke("convert", saved("unet"), "-o", snn, "--calib", data, "--no-layerwise")
    assert converted.exit_code == 0, converted.output
    result = _invoke("eval", snn, "--data", data, "--timesteps", "2")
    assert result.exit_code == 2
    assert "output has shape (6, 2, 8, 8), not (N, classes)" in result.output and "segmentation" in result.output
