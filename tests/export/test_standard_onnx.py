"""The standard-ONNX export in ONNX Runtime against snnrt's SpikingNetwork: same spikes, same outputs.

Two forms of each network. With its trained (or seeded) weights, ONNX Runtime's and torch's convolutions
round differently in the last bit, which now and then moves a membrane potential across the threshold one
step earlier or later (measured on the bundled models, 16 batches of 32 test images at T=8: per-layer
counts off by at most 7e-6 of the count, outputs by at most 2e-7 of their scale); so there spike counts
must agree to 1e-4 and outputs to 1e-5 of their scale. With "exact arithmetic" (weights on a 2^-7 grid,
thresholds on a 2^-3 grid, inputs on a 2^-4 grid, so every sum is exact in float32 whatever its order)
nothing rounds, and any difference would be the export's: there spike counts must be identical per layer.
"""

import functools
import io

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper
from torch import nn

from onnx2snn.calibrate.thresholds import ThresholdSpec
from onnx2snn.convert import convert
from onnx2snn.data.datasets import digits, mnist5k
from onnx2snn.errors import UnsupportedModelError
from onnx2snn.export import standard_onnx
from onnx2snn.export.standard_onnx import PER_STEP_PREFIX, SPIKE_COUNT_PREFIX, export_standard_onnx, ort_session
from onnx2snn.load.bundled import bundled_model
from snnrt import contract
from snnrt.simulate import SpikingNetwork
from tests.conftest import ort_run, tiny_snn
from tests.exported_models import get_case, sample_input
from tests.runtime.test_compensation import product_snn

T = 8
BUNDLED = ("mnist_cnn_relu", "mnist_cnn_clip", "mnist_cnn_maxpool", "digits_mlp")
CASES = BUNDLED + ("resnet", "concat")


class ConcatNet(nn.Module):
    """A conv on the input (static: computed once) concatenated with a spiking branch that it feeds."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.branch = nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(8, 10))

    def forward(self, x):
        stem = self.stem(x)
        return self.head(torch.cat([stem, self.branch(stem)], 1))


def _concat_onnx():
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.onnx.export(ConcatNet().eval(), torch.zeros(2, 1, 28, 28), buffer, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "batch"}})
    return buffer.getvalue()


@functools.cache
def images_of(dataset):
    """The test split of a bundled data set (loaded once: MNIST takes seconds); the export is compared, not
    scored, so calibration may use the same split."""
    return (digits if dataset == "digits" else mnist5k)("test")[0]


@functools.cache
def case(name):
    """(SNN ModelProto, 16 inputs): bundled models calibrated on 64 real images; the residual net (seeded
    weights, per-channel thresholds) on seeded inputs; the concat net (seeded weights) on MNIST with
    per-layer max thresholds and reset to zero."""
    if name == "resnet":
        snn = convert(get_case("resnet", "torchscript", 17), sample_input("resnet", 64))
        return snn.model, sample_input("resnet", 16)
    images = images_of("digits" if name == "digits_mlp" else "mnist5k")
    calibration, x = images[:64], images[64:80]
    if name == "concat":
        snn = convert(_concat_onnx(), calibration, threshold=ThresholdSpec("max", per_channel=False), reset=contract.RESET_ZERO)
    else:
        snn = convert(bundled_model(name), calibration)
    return snn.model, x


def exact_arithmetic(snn, x):
    """The SNN and input rounded to grids on which float32 sums are exact (see the module docstring)."""
    model = onnx.ModelProto()
    model.CopyFrom(snn)
    for tensor in model.graph.initializer:
        value = numpy_helper.to_array(tensor)
        if value.dtype == np.float32:
            tensor.CopyFrom(numpy_helper.from_array(np.round(value * 2**7) / 2**7, tensor.name))
    for node in model.graph.node:
        if node.op_type == contract.IF_OP:
            attrs = {a.name: a for a in node.attribute}
            theta = np.maximum(np.round(np.array(attrs[contract.ATTR_THRESHOLD].floats) * 8), 1) / 8
            for name, values in ((contract.ATTR_THRESHOLD, theta), (contract.ATTR_V_INIT, theta / 2)):
                del attrs[name].floats[:]
                attrs[name].floats.extend(values.tolist())
    return model, (np.round(x * 16) / 16).astype(np.float32)


def run_exported(model, x):
    """Graph outputs of the exported model in ONNX Runtime (CPU), by name."""
    session = ort_session(model, "cpu")
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {session.get_inputs()[0].name: x})))


def compare(snn, x, timesteps, exact, **options):
    """Export, run both, and check spike counts and outputs; returns the runtime's spike counts."""
    outputs = run_exported(export_standard_onnx(snn, timesteps, per_step_outputs=True, spike_counts=True,
                                                **options), x)
    result = SpikingNetwork(snn, "cpu").run(torch.from_numpy(x), timesteps)
    expected = result.outputs.numpy()
    name = snn.graph.output[0].name
    counts = {k[len(SPIKE_COUNT_PREFIX):]: int(v) for k, v in outputs.items() if k.startswith(SPIKE_COUNT_PREFIX)}
    assert counts.keys() == result.spike_counts.keys()
    if exact:
        assert counts == result.spike_counts
    else:
        for layer, count in result.spike_counts.items():
            assert abs(counts[layer] - count) <= 1e-4 * count, layer
    tolerance = 1e-5 * max(1.0, float(np.abs(expected).max()))
    assert outputs[PER_STEP_PREFIX + name].shape == expected.shape
    np.testing.assert_allclose(outputs[PER_STEP_PREFIX + name], expected, rtol=0, atol=tolerance)
    np.testing.assert_allclose(outputs[name], expected[-1], rtol=0, atol=tolerance)
    return result.spike_counts


@pytest.mark.parametrize("name", CASES)
def test_same_spikes_with_exact_arithmetic(name):
    counts = compare(*exact_arithmetic(*case(name)), T, exact=True)
    assert all(count > 0 for count in counts.values()), counts  # every layer spikes: the comparison is not vacuous


@pytest.mark.parametrize("name", CASES)
def test_agrees_with_runtime_on_trained_weights(name):
    compare(*case(name), T, exact=False)


@pytest.mark.parametrize("name", ["resnet", "concat", "mnist_cnn_maxpool"])
def test_unrolled_time_loop_gives_the_same_spikes(name):
    compare(*exact_arithmetic(*case(name)), T, exact=True, time_loop="unrolled")


@pytest.mark.parametrize("time_loop", ["scan", "unrolled"])
def test_single_step(time_loop):
    compare(*exact_arithmetic(*case("mnist_cnn_maxpool")), 1, exact=True, time_loop=time_loop)


def test_one_file_serves_any_batch_size(tmp_path):
    snn, x = exact_arithmetic(*case("mnist_cnn_maxpool"))
    path = tmp_path / "snn_t4.onnx"
    onnx.save(export_standard_onnx(snn, 4), path)
    session = ort_session(path, "cpu")
    for batch in (x[:1], x[:5]):
        (mean,) = session.run(None, {"input": batch})
        expected = SpikingNetwork(snn, "cpu").run(torch.from_numpy(batch), 4).outputs[-1].numpy()
        np.testing.assert_allclose(mean, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_graph_is_standard_onnx_with_named_outputs():
    snn, _ = case("mnist_cnn_maxpool")
    plain = export_standard_onnx(snn, T)
    assert [o.name for o in plain.graph.output] == ["logits"]
    full = export_standard_onnx(snn, T, per_step_outputs=True, spike_counts=True)
    for model in (plain, full):
        assert {o.domain for o in model.opset_import} == {""}
        assert {n.domain for n in model.graph.node} == {""}
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
        onnx.checker.check_model(model, full_check=True)
    spiking = [n.name for n in snn.graph.node if n.domain == contract.DOMAIN]
    dims = {o.name: [d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim] for o in full.graph.output}
    assert dims == {"logits": ["N", 10], "per_step/logits": [T, "N", 10],
                    **{SPIKE_COUNT_PREFIX + n: [] for n in spiking}}
    assert {p.key: p.value for p in full.metadata_props}["onnx2snn.timesteps"] == str(T)


def test_older_opset_is_upgraded():
    weights = np.arange(12, dtype=np.float32).reshape(4, 3) / 8
    snn = tiny_snn([helper.make_node("ReduceSum", ["s"], ["r"], "sum", axes=[1], keepdims=1),
                     helper.make_node("MatMul", ["s", "w"], ["y"], "mm"),
                     helper.make_node("Add", ["y", "r"], ["output"], "add")], {"w": weights}, opset=11,
                    output_shape=["batch", 3])
    model = export_standard_onnx(snn, 4)
    assert model.opset_import[0].version == 17
    x = np.linspace(-1, 2, 20, dtype=np.float32).reshape(5, 4)
    expected = SpikingNetwork(snn, "cpu").run(torch.from_numpy(x), 4).outputs[-1].numpy()
    np.testing.assert_allclose(run_exported(model, x)["output"], expected, rtol=0, atol=1e-6)


def test_spiking_layer_as_output():
    snn = tiny_snn([], output_shape=["batch", 4], spikes="output")
    x = np.linspace(-1, 2, 12, dtype=np.float32).reshape(3, 4)
    outputs = run_exported(export_standard_onnx(snn, 5, spike_counts=True), x)
    result = SpikingNetwork(snn, "cpu").run(torch.from_numpy(x), 5)
    assert outputs[SPIKE_COUNT_PREFIX + "if"] == result.spike_counts["if"] > 0
    np.testing.assert_allclose(outputs["output"], result.outputs[-1].numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("time_loop", ["scan", "unrolled"])
def test_spread_after_the_first_step_is_exported(time_loop):
    snn = tiny_snn([], output_shape=["batch", 4], spikes="output")
    snn.graph.node[0].attribute.append(helper.make_attribute(contract.ATTR_SPREAD, 0.75))
    x = np.linspace(-1, 2, 12, dtype=np.float32).reshape(3, 4)
    outputs = run_exported(export_standard_onnx(snn, 5, spike_counts=True, time_loop=time_loop), x)
    result = SpikingNetwork(snn, "cpu").run(torch.from_numpy(x), 5)
    common = SpikingNetwork(tiny_snn([], output_shape=["batch", 4], spikes="output"), "cpu").run(x, 5)
    assert not torch.equal(result.outputs, common.outputs)
    assert outputs[SPIKE_COUNT_PREFIX + "if"] == result.spike_counts["if"]
    np.testing.assert_allclose(outputs["output"], result.outputs[-1].numpy(), rtol=0, atol=1e-6)
    snn.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "features"
    with pytest.raises(UnsupportedModelError, match="'if' \\(IFNeuron\\) needs its input's size"):
        export_standard_onnx(snn, 5)


@pytest.mark.parametrize("nodes, initializers, message", [
    ([helper.make_node("Reshape", ["s", "shape"], ["output"], "fixed_batch")], {"shape": np.array([2, -1])},
     "'fixed_batch' \\(Reshape\\).*fixes the batch size"),
    ([helper.make_node("Transpose", ["s"], ["output"], "swap", perm=[1, 0])], {}, "'swap' \\(Transpose\\)"),
    ([helper.make_node("ReduceSum", ["s"], ["output"], "total", keepdims=0)], {}, "'total' \\(ReduceSum\\)"),
    ([helper.make_node("Shape", ["input"], ["n"], "shape"),
      helper.make_node("Reshape", ["s", "n"], ["output"], "by_batch")], {},
     "'by_batch' \\(Reshape\\) reads 'n', computed from the input's batch size"),
    ([helper.make_node("TopK", ["s", "k"], ["output", "i"], "top", axis=1)], {"k": np.array([1])},
     "'top' \\(TopK\\).*does not know"),
    ([helper.make_node("ReduceMean", ["input"], ["m"], "batch_mean", axes=[0, 1], keepdims=0),
      helper.make_node("Add", ["s", "m"], ["output"], "add_mean")], {},
     "'add_mean' \\(Add\\) reads 'm', computed across the batch"),
])
def test_ops_that_would_mix_the_folded_batch_are_rejected(nodes, initializers, message):
    with pytest.raises(UnsupportedModelError, match=message):
        export_standard_onnx(tiny_snn(nodes, initializers), 4)


@pytest.mark.parametrize("inputs", [["s", "r"], ["s", "input"], ["input", "s"], ["s", "half"]])
def test_a_product_unit_of_spikes_the_input_or_a_constant_gives_the_runtime_outputs(inputs):
    model = product_snn(inputs)
    model.graph.initializer.append(numpy_helper.from_array(np.full(4, 0.5, np.float32), "half"))
    x = np.random.default_rng(2).uniform(-0.5, 2.5, (3, 4)).astype(np.float32)
    outputs = ort_run(export_standard_onnx(model, 9, per_step_outputs=True), x)
    np.testing.assert_array_equal(outputs[1], SpikingNetwork(model, "cpu", "step").run(x, 9).outputs.numpy())


def test_ann_is_rejected():
    with pytest.raises(UnsupportedModelError, match="it is an ANN"):
        export_standard_onnx(onnx.load(bundled_model("digits_mlp")), 4)


def test_unknown_custom_op_is_rejected():
    snn = tiny_snn([helper.make_node("Leaky", ["s"], ["output"], "lif", domain=contract.DOMAIN)])
    with pytest.raises(UnsupportedModelError, match="ai.onnx2snn::Leaky"):
        export_standard_onnx(snn, 4)


@pytest.mark.parametrize("timesteps", [0, -3, 2.5, True, "8"])
def test_timesteps_must_be_a_positive_integer(timesteps):
    with pytest.raises(ValueError, match="timesteps"):
        export_standard_onnx(case("digits_mlp")[0], timesteps)


def test_unknown_time_loop_is_rejected():
    with pytest.raises(ValueError, match="time_loop"):
        export_standard_onnx(case("digits_mlp")[0], 4, time_loop="loop")


def test_providers(monkeypatch):
    monkeypatch.setattr(standard_onnx.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert standard_onnx.ort_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        standard_onnx.ort_providers("cuda")
    monkeypatch.setattr(standard_onnx.ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert standard_onnx.ort_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert standard_onnx.ort_providers("cuda:0")[0] == "CUDAExecutionProvider"
    assert standard_onnx.ort_providers("cpu") == ["CPUExecutionProvider"]


def test_a_session_asked_not_to_spin_tells_its_threads_so():
    model = export_standard_onnx(tiny_snn([helper.make_node("Identity", ["s"], ["output"])], output_shape=["batch", 4]), 2)
    spinning = "session.intra_op.allow_spinning"
    assert ort_session(model, "cpu", spin=False).get_session_options().get_session_config_entry(spinning) == "0"
    with pytest.raises(RuntimeError, match="does not have configuration"):  # left at onnxruntime's default
        ort_session(model, "cpu").get_session_options().get_session_config_entry(spinning)
