"""Files in the early model zoo's form (tests.legacy_zoo): they load (with a warning where they break an IR-3
rule that ONNX Runtime does not enforce), normalize to the function ONNX Runtime computes on the file as it is,
take any batch size, and convert when their activations are ReLUs."""

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from onnx2snn.cli.commands import main
from onnx2snn.convert import convert
from onnx2snn.errors import ModelLoadError, ModelLoadWarning, UnsupportedModelError
from onnx2snn.load.model import load_model
from onnx2snn.normalize import normalize
from onnx2snn.normalize.drop_input_initializers import drop_input_initializers
from onnx2snn.normalize.free_batch import free_batch
from onnx2snn.normalize.upgrade_opset import upgrade_opset
from snnrt.graph import GraphModule
from tests import legacy_zoo


def _ort(model, x):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {legacy_zoo.INPUT: x})[0]


def _samples(n, seed=0):
    return np.random.default_rng(seed).random((n, *legacy_zoo.INPUT_SHAPE[1:]), dtype=np.float32)


@pytest.mark.parametrize("name", sorted(legacy_zoo.MODELS))
def test_legacy_file_loads_and_normalizes_to_what_onnx_runtime_computes(name):
    raw = legacy_zoo.MODELS[name]()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clean, _ = normalize(load_model(raw))
    warned = [str(w.message) for w in caught if w.category is ModelLoadWarning]
    if name in legacy_zoo.SHAPES_AS_INPUTS:
        assert not warned
    else:
        assert len(warned) == 1 and "IR version 3" in warned[0] and "__SHAPE" in warned[0]
    assert clean.opset_import[0].version == 17
    assert "ConstantOfShape" not in {n.op_type for n in clean.graph.node}
    x = _samples(3)
    expected = np.concatenate([_ort(raw, x[i : i + 1]) for i in range(len(x))])
    with torch.no_grad():
        got = GraphModule(clean)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", legacy_zoo.RELU_ONLY)
def test_legacy_relu_network_converts_and_runs_on_a_batch(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelLoadWarning)
        snn = convert(legacy_zoo.MODELS[name](), _samples(16), layerwise=False)
    result = snn.network("cpu").run(torch.from_numpy(_samples(4, seed=1)), 4)
    assert result.outputs.shape == (4, 4, 10)
    assert any(n.op_type == "IFNeuron" for n in snn.model.graph.node)


def test_legacy_alexnet_converts_its_lrn_as_a_compensation_unit_or_refuses_it_when_spiking_only():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelLoadWarning)
        snn = convert(legacy_zoo.alexnet(), _samples(8), layerwise=False)
        with pytest.raises(UnsupportedModelError, match=r"\(LRN\)"):
            convert(legacy_zoo.alexnet(), _samples(4), spiking_only=True)
    assert [u.ops for u in snn.compensated] == [["LRN"]]


def test_inspect_prints_the_old_ir_warning_as_one_line(tmp_path):
    path = tmp_path / "vgg.onnx"
    onnx.save(legacy_zoo.vgg(), path)
    result = CliRunner().invoke(main, ["--quiet", "inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert f"warning: {path}: IR version 3 wants every initializer listed as a graph input" in result.output
    assert "activations that become IF neurons: 3" in result.output


def test_dropping_weight_inputs_of_an_ir3_file_keeps_it_valid_for_the_upgrade():
    raw = legacy_zoo.resnet()
    dropped = drop_input_initializers(raw)
    assert dropped.ir_version == 4 and [i.name for i in dropped.graph.input] == [legacy_zoo.INPUT]
    onnx.checker.check_model(upgrade_opset(dropped))


def test_ir_version_2_is_still_refused_by_the_upgrade():
    raw = legacy_zoo.vgg()
    raw.ir_version = 2
    with pytest.raises(ModelLoadError, match="IR version 2 is too old"):
        upgrade_opset(drop_input_initializers(raw))


def test_free_batch_keeps_a_model_that_mixes_samples():
    """A sum over the batch axis is the identity for one sample and mixes samples otherwise: kept at batch 1."""
    raw = legacy_zoo.vgg()
    flatten = next(n for n in raw.graph.node if n.op_type == "Flatten")
    mixed = onnx.helper.make_node("ReduceSum", [flatten.input[0]], ["summed"], axes=[0], keepdims=1)
    flatten.input[0] = "summed"
    raw.graph.node.insert(list(raw.graph.node).index(flatten), mixed)
    fixed = upgrade_opset(drop_input_initializers(raw))
    assert free_batch(fixed) is fixed
    plain = free_batch(upgrade_opset(drop_input_initializers(legacy_zoo.vgg())))
    assert plain.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
