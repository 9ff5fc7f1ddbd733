"""Step-by-step and layer-by-layer execution give the same spikes and anytime outputs (snnrt.simulate).

Spike counts must be identical. Outputs agree within 1e-6 of their scale, not always bit for bit: a
convolution or matrix product on a (T * N) batch may sum in another order than on N samples.
"""

import numpy as np
import pytest
import torch
from onnx import helper

from onnx2snn.convert import convert
from onnx2snn.data.datasets import mnist5k
from onnx2snn.load.bundled import bundled_model
from snnrt.errors import RuntimeInputError
from snnrt import simulate
from snnrt.memory import peak_bytes_per_sample_step
from snnrt.simulate import SpikingNetwork
from tests import exported_models
from tests.conftest import tiny_snn


@pytest.fixture(autouse=True, scope="module")
def _without_layerwise():
    """Exact agreement of the orders is tested on the statistic thresholds; fitted per-channel values can put a spike on its threshold, where float rounding decides (module doc): convert() without layer-wise calibration here (tests/test_layerwise.py tests it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("onnx2snn.defaults.LAYERWISE", False)
        yield

CONVERTIBLE = ("vgg_maxpool", "resnet", "densenet_concat", "inception_concat", "mobilenetv2", "squeezenet",
               "shufflenet", "mlp")


def _assert_same_runs(model, x, timesteps, encoding="direct", **layer_options):
    step = SpikingNetwork(model, "cpu", order="step").run(x, timesteps, encoding=encoding, seed=3, count_ops=True,
                                                           channel_rates=True)
    layer = SpikingNetwork(model, "cpu", order="layer", **layer_options).run(
        x, timesteps, encoding=encoding, seed=3, count_ops=True, channel_rates=True)
    assert (step.order, layer.order) == ("step", "layer")
    assert layer.spike_counts == step.spike_counts
    assert sum(step.spike_counts.values()) > 0
    scale = max(1.0, float(step.outputs.abs().max()))
    assert float((layer.outputs - step.outputs).abs().max()) <= 1e-6 * scale
    assert layer.firing_rates == step.firing_rates
    for name, rates in step.channel_rates.items():  # per channel and step: the same, and they add up
        assert rates.shape[0] == timesteps and torch.equal(layer.channel_rates[name], rates)
        assert float(rates.mean()) == pytest.approx(step.firing_rates[name], rel=1e-5, abs=1e-9)
    assert layer.op_counts.sops_by_step == pytest.approx(step.op_counts.sops_by_step, rel=1e-12)
    assert layer.op_counts.ann_macs == step.op_counts.ann_macs
    return step


@pytest.fixture(scope="module")
def mnist():
    x_train, _ = mnist5k("train")
    x_test, _ = mnist5k("test")
    return x_train[:64], x_test[:24]


@pytest.mark.parametrize("name", ["mnist_cnn_relu", "mnist_cnn_maxpool", "digits_mlp"])
def test_bundled_models_agree_exactly(name, mnist):
    if name == "digits_mlp":
        from onnx2snn.data.datasets import digits
        calibration, x = digits("train")[0][:64], digits("test")[0][:24]
    else:
        calibration, x = mnist
    snn = convert(bundled_model(name), calibration)
    _assert_same_runs(snn.model, x, 12)


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_exported_architectures_agree_exactly(name):
    exporter = "dynamo" if name == "shufflenet" else "torchscript"
    opset = exported_models.DYNAMO_OPSET if exporter == "dynamo" else 13
    ann = exported_models.get_case(name, exporter, opset)
    snn = convert(ann, exported_models.sample_input(name, 16))
    _assert_same_runs(snn.model, exported_models.sample_input(name, 5), 6)


def test_chunks_over_samples_and_time_agree_exactly(mnist):
    snn = convert(bundled_model("mnist_cnn_maxpool"), mnist[0])
    x = mnist[1][:10]
    network = SpikingNetwork(snn.model, "cpu", order="layer", memory_budget=1)
    assert network.chunks(torch.as_tensor(x), 8, "layer", "direct") == (1, 1)
    whole = SpikingNetwork(snn.model, "cpu", order="layer")
    assert whole.chunks(torch.as_tensor(x), 8, "layer", "direct") == (10, 8)
    _assert_same_runs(snn.model, x, 8, memory_budget=1)
    peak = whole._peaks[((1, 28, 28), torch.float32, "direct", frozenset())]
    # values that a run observes live to the end of each call: with every value observed, the peak is their sum
    names = [name for node in whole.graph.nodes for name in node.outputs if name]
    _, values = whole.graph.run(torch.as_tensor(x[:1]), capture=names)
    every = x[:1].nbytes + sum(value.numel() * value.element_size() for value in values.values())
    assert peak < every == peak_bytes_per_sample_step(whole.graph, torch.as_tensor(x[:1]), kept=names)
    # (samples, steps) for a budget of so many sample-steps: every sample where CHUNK_STEPS (4) steps of them fit
    # (5 steps fit at 50, but 5 and 3 become 4 and 4), else fewer samples, in chunks as alike as they can be, for
    # 4 steps or as many as fit
    for sample_steps, chunks in ((50, (10, 4)), (30, (5, 4)), (2, (1, 2))):
        budget = peak * sample_steps
        assert SpikingNetwork(snn.model, "cpu", order="layer", memory_budget=budget).chunks(
            torch.as_tensor(x), 8, "layer", "direct") == chunks
        _assert_same_runs(snn.model, x, 8, memory_budget=budget)


def test_default_cpu_chunks_hold_sixteen_sample_steps_where_the_budget_holds_fewer(mnist, monkeypatch):
    # as at 224x224, where 32 MiB holds one sample-step of VGG-11: here a budget of 2 sample-steps of the CNN
    snn = convert(bundled_model("mnist_cnn_maxpool"), mnist[0])
    x = torch.as_tensor(mnist[1][:10])
    probe = SpikingNetwork(snn.model, "cpu", order="layer")
    probe.chunks(x, 8, "layer", "direct")
    budget = 2 * probe._peaks[((1, 28, 28), torch.float32, "direct", frozenset())]
    monkeypatch.setattr(simulate, "CPU_MEMORY_BUDGET", budget)
    # CPU_CHUNK_SAMPLE_STEPS (16) as 4 samples of CHUNK_STEPS (4) steps: the budget alone gave (1, 2)
    assert SpikingNetwork(snn.model, "cpu", order="layer").chunks(x, 8, "layer", "direct") == (4, 4)
    # a budget that the caller gives is kept
    assert SpikingNetwork(snn.model, "cpu", order="layer", memory_budget=budget).chunks(
        x, 8, "layer", "direct") == (1, 2)
    _assert_same_runs(snn.model, x, 8)


def test_poisson_encoding_agrees_exactly_also_in_chunks(mnist):
    snn = convert(bundled_model("mnist_cnn_relu"), mnist[0])
    _assert_same_runs(snn.model, mnist[1][:8], 10, encoding="poisson")
    _assert_same_runs(snn.model, mnist[1][:8], 10, encoding="poisson", memory_budget=1)


@pytest.mark.parametrize("case, nodes, opset, initializers", [
    ("transpose", [helper.make_node("Transpose", ["s"], ["output"], perm=[1, 0])], 17, {}),
    ("slice-1", [helper.make_node("Slice", ["s"], ["output"], axes=[0], starts=[0], ends=[1])], 9, {}),
    ("mean over the batch", [helper.make_node("ReduceMean", ["input"], ["m"], axes=[0], keepdims=1),
                             helper.make_node("Add", ["s", "m"], ["output"])], 17, {}),
    ("scalar mean", [helper.make_node("ReduceMean", ["input"], ["m"], axes=[0, 1], keepdims=0),
                     helper.make_node("Add", ["s", "m"], ["output"])], 17, {}),
])
def test_graphs_that_mix_the_batch_axis_run_step_by_step(case, nodes, opset, initializers):
    model = tiny_snn(nodes, initializers, opset)
    network = SpikingNetwork(model, "cpu")
    assert network.resolve_order() == "step", case
    x = np.linspace(0.1, 1.2, 12, dtype=np.float32).reshape(3, 4)
    result = network.run(x, 3)
    assert result.order == "step" and result.outputs.shape[0] == 3
    with pytest.raises(RuntimeInputError, match="layer-by-layer order cannot run"):
        SpikingNetwork(model, "cpu", order="layer").run(x, 3)


def test_static_per_sample_values_are_tiled_over_time():
    nodes = [helper.make_node("Mul", ["input", "two"], ["m"]), helper.make_node("Add", ["s", "m"], ["output"])]
    model = tiny_snn(nodes, {"two": np.float32(2.0)})
    x = np.linspace(0.1, 1.2, 12, dtype=np.float32).reshape(3, 4)
    step = SpikingNetwork(model, "cpu", order="step").run(x, 5)
    layer = SpikingNetwork(model, "cpu", order="layer").run(x, 5)
    assert layer.order == "layer" and torch.equal(layer.outputs, step.outputs)


def test_early_exit_returns_a_prefix_of_the_full_run(mnist):
    snn = convert(bundled_model("mnist_cnn_relu"), mnist[0])
    network = SpikingNetwork(snn.model, "cpu")
    full = network.run(mnist[1][:8], 64)
    early = network.run(mnist[1][:8], 64, stop_when_stable=4)
    steps = len(early.outputs)
    assert early.order == "step" and 5 <= steps < 64
    assert torch.equal(early.outputs, full.outputs[:steps])
    recent = early.predictions()[-5:]
    assert bool((recent == recent[-1]).all())
    with pytest.raises(ValueError, match="step-by-step"):
        network.run(mnist[1][:8], 8, order="layer", stop_when_stable=2)
