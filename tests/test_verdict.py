"""One verdict per model: inspect and convert list the same complete set of blocking nodes (each once), inspect
still reports MACs and sites where the runtime cannot run the graph, shape-only arithmetic never blocks,
nonlinearities that no IF neuron computes become compensation units (or are refused with --spiking-only), and
eval refuses outputs that are not class scores."""

import functools
import re

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from onnx2snn.cli.commands import main
from onnx2snn.convert import convert
from onnx2snn.errors import UnsupportedModelError
from onnx2snn.load.model import load_model
from onnx2snn.normalize import normalize
from onnx2snn.sites.find_sites import find_sites
from snnrt import contract
from tests import modern_models
from tests.conftest import make_model, ort_run

BLOCKED = ("lstm",)


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


def _report(model):
    return find_sites(normalize(load_model(model, float_input=False))[0])


def _problems(model):
    return _report(model).problems


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
    assert listed and listed == _listed(converted.output) == _listed(_report(onnx.load(path)).refusal())
    names = [line.split("'")[1] for line in listed]
    assert len(names) == len(set(names))


def _calibration(name, tmp_path):
    path = tmp_path / "calib.npy"
    np.save(path, modern_models.example(name, 4).numpy().astype(np.float32))
    return path


def test_vit_nonlinearities_become_compensation_units_or_are_refused_when_spiking_only():
    report = _report(onnx.load_from_string(_export("vit")))
    assert not report.problems
    ops = sorted(re.findall(r"\((\w+)\):", report.refusal(spiking_only=True)))
    assert ops == ["Erf", "LayerNormalization", "LayerNormalization", "MatMul", "MatMul", "Mul", "Softmax"]
    units = {unit.name: unit.ops for unit in report.compensated}
    assert sorted(units) == ["/attention/MatMul_1_ec", "/mlp/mlp.1/Mul_ec", "/norm1/LayerNormalization_ec",
                             "/norm2/LayerNormalization_ec"]
    assert {"MatMul", "Softmax", "Sqrt", "Div"} <= set(units["/attention/MatMul_1_ec"])
    assert units["/mlp/mlp.1/Mul_ec"] == ["Div", "Erf", "Add", "Mul"]
    assert report.refusal() is None  # every weight layer after the patch embedding reads signed IF neurons
    assert sorted(r for site in report.signed for r in site.readers) == [
        "/attention/out/MatMul", "/attention/qkv/MatMul", "/head/Gemm", "/mlp/mlp.0/MatMul", "/mlp/mlp.2/MatMul"]


def _converges(name, layerwise=True, orders=("step", "layer")):
    """Convert the export ``name`` on 64 samples; its SNN output at T=64 in each order is close to the ANN's."""
    ann = onnx.load_from_string(_export(name))
    x = modern_models.example(name, 64).numpy()
    snn = convert(ann, x, layerwise=layerwise)
    reference = ort_run(ann, x)[0]
    for order in orders:
        outputs = snn.network("cpu", order).run(x, 64).outputs.numpy()
        errors = [float(np.abs(outputs[t - 1] - reference).mean()) for t in (2, 64)]
        assert errors[1] < errors[0] and errors[1] < 0.1 * float(np.abs(reference).mean()), (order, errors)
    return snn


@pytest.mark.parametrize("name", ["relu_layernorm", "relu_silu_cnn", "mobilenetv3"])
def test_relu_network_with_other_nonlinearities_converts_with_compensation_units(name):
    snn = _converges(name)
    units = [n for n in snn.model.graph.node if n.op_type == contract.COMPENSATION_OP]
    assert [n.name for n in units] == [u.name for u in snn.compensated] and units
    meta = {p.key: p.value for p in snn.model.metadata_props}
    assert all(u.name in meta[contract.META_COMPENSATED] for u in snn.compensated)


@pytest.mark.parametrize("name", ["vit", "convnext"])
def test_networks_without_relu_convert_with_signed_neurons_in_front_of_their_weight_layers(name):
    snn = _converges(name, orders=("step",))
    ops = [n.op_type for n in snn.model.graph.node]
    assert contract.IF_OP not in ops and ops.count(contract.SIGNED_IF_OP) == len(snn.signed) > 0


def test_vit_with_relu_mlp_converts_its_attention_and_layernorms_as_compensation_units():
    snn = _converges("vit_relu", orders=("step",))
    assert len(snn.compensated) == 3
    # its dynamic reshapes cannot fold time into the batch: layer-wise calibration is skipped, and says why
    assert snn.layerwise.startswith("not run: it runs every time step at once")


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
    report = _report(product)  # a product of two values that follow the input: a unit of two inputs
    assert not report.problems and [(u.inputs, u.ops) for u in report.compensated] == [(["r", "input"], ["Mul"])]


def test_a_node_the_runtime_cannot_run_blocks_even_on_constants_only(saved):
    nodes = [helper.make_node("Relu", ["input"], ["r"]), helper.make_node("CumSum", ["r", "axis"], ["out"])]
    model = make_model(nodes, [("input", ["N", 4])], [("out", ["N", 4])], {"axis": np.array(1, np.int64)})
    assert _problems(model) == ["node 'CumSum_1' (CumSum): the runtime cannot run op CumSum (opset 17)"]


def test_lstm_classifier_names_its_integer_input_and_recurrent_node(saved):
    text = _invoke("inspect", saved("lstm")).output
    assert "(Gather): reads the integer graph input 'input' (INT64)" in text
    assert "(LSTM): a recurrent op" in text
    assert "MACs per sample (from shapes):" in text and "activations that become IF neurons: 1" in text


def test_spiking_only_refuses_a_layernorm_and_writes_no_file(tmp_path):
    with pytest.raises(UnsupportedModelError, match=r"\(LayerNormalization\)"):
        convert(onnx.load_from_string(_export("relu_layernorm")), modern_models.example("relu_layernorm", 4).numpy(),
                output=tmp_path / "x.snn.onnx", spiking_only=True)
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


def test_cli_convert_names_the_units_and_spiking_only_refuses_them(saved, tmp_path):
    path, out = saved("relu_layernorm"), tmp_path / "ln.snn.onnx"
    calib = _calibration("relu_layernorm", tmp_path)
    result = _invoke("convert", path, "-o", out, "--calib", calib, "--no-layerwise")
    assert result.exit_code == 0, result.output
    assert "compensation unit (not spiking): /net/net.2/LayerNormalization_ec: LayerNormalization" in result.output
    assert "/net/net.2/LayerNormalization_ec: ExpectationCompensation (not spiking) of LayerNormalization" in _invoke(
        "inspect", out).output
    refused = _invoke("convert", path, "-o", tmp_path / "no.snn.onnx", "--calib", calib, "--spiking-only")
    assert refused.exit_code == 2 and "'/net/net.2/LayerNormalization' (LayerNormalization)" in refused.output
    assert not (tmp_path / "no.snn.onnx").exists()


def test_a_layernorm_whose_statistics_are_read_stays_a_blocker():
    """A unit gives one output: a LayerNormalization whose Mean output is used elsewhere cannot become one."""
    nodes = [helper.make_node("Relu", ["input"], ["r"]),
             helper.make_node("LayerNormalization", ["r", "scale"], ["y", "mean"], name="ln", axis=-1),
             helper.make_node("Add", ["y", "mean"], ["out"])]
    model = make_model(nodes, [("input", ["N", 4])], [("out", ["N", 4])], {"scale": np.ones(4, np.float32)})
    report = _report(model)
    assert not report.compensated and report.problems[0].startswith("node 'ln' (LayerNormalization)")
