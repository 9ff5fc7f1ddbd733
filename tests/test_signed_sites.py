"""Signed IF neurons in front of weight layers (onnx2snn.sites.signed_sites): where they go, their thresholds, what
convert, inspect and the metadata say, and that a net with a SiLU and a LayerNorm feeding convolutions (no ReLU at
all) converts into an SNN that approaches its ANN as T grows, in both runtime orders and in the standard-ONNX
export."""

import functools
import io

import numpy as np
import onnx
import pytest
import torch
from onnx import helper
from torch import nn

from onnx2snn.convert import convert
from onnx2snn.errors import UnsupportedModelError
from onnx2snn.report.evaluate import evaluate
from onnx2snn.export.nir_graph import export_nir
from onnx2snn.export.standard_onnx import export_standard_onnx
from onnx2snn.load.model import load_model
from onnx2snn.normalize import normalize
from onnx2snn.report.inspect_model import describe
from onnx2snn.sites.find_sites import find_sites
from snnrt import contract
from tests.conftest import make_model, ort_run


class SiluNormCnn(nn.Module):
    """conv - SiLU - conv - LayerNorm over channels - 1x1 conv - average pooling - linear: no ReLU-like site."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(
            8, 8, 1)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.conv2(nn.functional.silu(self.conv1(x)))
        x = self.conv3(self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        return self.fc(nn.functional.avg_pool2d(x, 2).flatten(1))


@functools.cache
def _silu_norm():
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.onnx.export(SiluNormCnn().eval(), torch.zeros(2, 1, 8, 8), buffer, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "batch"}})
    x = np.random.default_rng(0).normal(0, 1, (96, 1, 8, 8)).astype(np.float32)
    return onnx.load_from_string(buffer.getvalue()), x[:64], x[64:]


def _report(model):
    return find_sites(normalize(load_model(model, float_input=False))[0])


def test_each_weight_layer_after_the_first_reads_a_signed_neuron_and_the_snn_approaches_the_ann():
    ann, calibration, x = _silu_norm()
    snn = convert(ann, calibration, layerwise=False)
    nodes = list(snn.model.graph.node)
    ops = [n.op_type for n in nodes]
    assert contract.IF_OP not in ops and ops.count(contract.COMPENSATION_OP) == 2
    assert ops.count(contract.SIGNED_IF_OP) == 3
    producers = {o: n for n in nodes for o in n.output}
    weight_layers = [n for n in nodes if n.op_type in ("Conv", "Gemm", "MatMul")]
    feeding = [producers[n.input[0]].op_type if n.input[0] in producers else "input" for n in weight_layers]
    assert feeding == ["input", contract.SIGNED_IF_OP, contract.SIGNED_IF_OP, contract.SIGNED_IF_OP]
    reference = ort_run(ann, x)[0]
    for order in ("step", "layer"):
        outputs = snn.network("cpu", order).run(x, 64).outputs.numpy()
        errors = [float(np.abs(outputs[t - 1] - reference).mean() / np.abs(reference).mean()) for t in (1, 8, 64)]
        assert errors[2] < errors[1] < errors[0] and errors[2] < 0.05, (order, errors)
    assert [layer.kind for layer in snn.signed] == ["signed IF"] * 3 and all(
        layer.replaced.startswith("for /") for layer in snn.signed)


def test_thresholds_are_a_percentile_of_the_magnitude_per_channel():
    ann, calibration, _ = _silu_norm()
    snn = convert(ann, calibration, layerwise=False)
    node = next(n for n in snn.model.graph.node if n.op_type == contract.SIGNED_IF_OP)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    value = ort_run(_with_output(snn.ann, node.input[0]), calibration)[1]
    expected = np.percentile(np.abs(value).transpose(1, 0, 2, 3).reshape(8, -1), 99.99, axis=1)
    np.testing.assert_allclose(attrs[contract.ATTR_THRESHOLD], expected, rtol=2e-3)
    np.testing.assert_allclose(attrs[contract.ATTR_V_INIT], np.asarray(attrs[contract.ATTR_THRESHOLD]) / 2, rtol=1e-6)
    assert attrs[contract.ATTR_LEVELS] == 4 and attrs[contract.ATTR_CHANNEL_AXIS] == 1


def _with_output(model, name):
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    copy.graph.output.append(helper.make_empty_tensor_value_info(name))
    return copy


def test_metadata_and_inspect_say_what_each_site_became(tmp_path):
    ann, calibration, _ = _silu_norm()
    snn = convert(ann, calibration, layerwise=False, output=tmp_path / "net.snn.onnx")
    meta = {p.key: p.value for p in snn.model.metadata_props}
    assert all(f"{s.site} (" in meta[contract.META_SIGNED] for s in snn.signed)
    assert meta[contract.META_SIGNED].startswith("percentile 99.99 of |x| per channel, 4 spike sizes")
    snn_text = describe(str(tmp_path / "net.snn.onnx"))
    assert snn_text.count(f"{contract.SIGNED_IF_OP} theta per channel (8), 4 spike sizes") == 2
    assert snn_text.count(f"{contract.COMPENSATION_OP} (not spiking)") == 2
    onnx.save(ann, tmp_path / "net.onnx")
    ann_text = describe(str(tmp_path / "net.onnx"))
    assert "behind signed IF neurons: 3" in ann_text and "compensation units (not spiking): 2" in ann_text


def test_spiking_only_still_refuses_the_compensation_units():
    ann, calibration, _ = _silu_norm()
    with pytest.raises(UnsupportedModelError, match=r"(?s)cannot become spiking layers.*Sigmoid.*LayerNormalization"):
        convert(ann, calibration, spiking_only=True)


def _relu_chain(middle):
    """input -> MatMul -> Relu -> ``middle`` nodes (reading 'r', writing 'm') -> MatMul 'fc2' -> output."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["input", "w1"], ["h"], "fc1"), helper.make_node("Relu", ["h"], ["r"], "relu"),
             *middle, helper.make_node("MatMul", ["m", "w2"], ["output"], "fc2")]
    return make_model(nodes, [("input", ["N", 6])], [("output", ["N", 3])],
                      {"w1": rng.normal(size=(6, 6)).astype(np.float32), "w2": rng.normal(size=(6, 3)).astype(np.float32),
                       "w3": rng.normal(size=(6, 6)).astype(np.float32), "c": np.float32(0.5)})


@pytest.mark.parametrize("middle, signed", [
    ([helper.make_node("Mul", ["r", "c"], ["m"])], False),  # spikes scaled by a constant
    ([helper.make_node("Add", ["r", "c"], ["m"])], False),  # spikes plus a constant
    ([helper.make_node("Add", ["r", "h"], ["m"])], False),  # spikes plus a static value (computed once)
    ([helper.make_node("MatMul", ["r", "w3"], ["m"])], True),  # a current: a weight layer's output on spikes
    ([helper.make_node("Mul", ["r", "r"], ["m"])], True),  # a product of spikes: a compensation unit
])
def test_a_weight_layer_gets_a_signed_neuron_where_it_would_read_a_real_value(middle, signed):
    report = _report(_relu_chain(middle))
    assert [(s.input, s.readers) for s in report.signed] == ([("m", ["fc2"])] if signed else [])


def _bottleneck_snn():
    """A ReLU net whose second weight layer reads the first's output (a current): a signed neuron in front of it,
    and no compensation unit."""
    model = _relu_chain([helper.make_node("MatMul", ["r", "w3"], ["m"], "fc_linear")])
    x = np.random.default_rng(1).normal(0, 1, (48, 6)).astype(np.float32)
    return convert(model, x[:32], layerwise=False), x[32:]


@pytest.mark.parametrize("time_loop", ["unrolled", "scan"])
def test_standard_onnx_export_runs_the_signed_neuron_as_the_runtime_does(time_loop):
    snn, x = _bottleneck_snn()
    assert [n.op_type for n in snn.model.graph.node].count(contract.SIGNED_IF_OP) == 1
    exported = export_standard_onnx(snn.model, 12, per_step_outputs=True, spike_counts=True, time_loop=time_loop)
    assert all(n.domain in ("", "ai.onnx") for n in exported.graph.node)
    outputs = ort_run(exported, x)
    result = snn.network("cpu", "layer").run(x, 12)
    np.testing.assert_allclose(outputs[1], result.outputs.numpy(), rtol=1e-5, atol=1e-5)
    counts = dict(zip([o.name for o in exported.graph.output][2:], outputs[2:]))
    name = snn.signed[0].site
    assert int(counts[f"spike_count/{name}"]) == result.spike_counts[name] > 0


def test_standard_onnx_export_runs_the_silu_and_layernorm_units_as_the_runtime_does():
    ann, calibration, x = _silu_norm()
    snn = convert(ann, calibration, layerwise=False)
    outputs = ort_run(export_standard_onnx(snn.model, 8, per_step_outputs=True), x)
    np.testing.assert_allclose(outputs[1], snn.network("cpu", "layer").run(x, 8).outputs.numpy(), rtol=1e-5,
                               atol=1e-5)


def test_nir_export_refuses_the_signed_neuron_naming_it():
    snn, _ = _bottleneck_snn()
    with pytest.raises(UnsupportedModelError, match=f"node '{snn.signed[0].site}' \\({contract.SIGNED_IF_OP}\\): "
                                                    "NIR has no signed neuron"):
        export_nir(snn.model)


def test_evaluate_reports_the_firing_rates_of_the_signed_layers_and_not_of_the_units():
    ann, calibration, x = _silu_norm()
    snn = convert(ann, calibration, layerwise=False)
    result = evaluate(snn, x[:8], np.arange(8) % 5, timesteps=(1, 4))
    assert sorted(result.firing_rates) == sorted(layer.site for layer in snn.signed)
    assert all(rate > 0 for rate in result.firing_rates.values()) and result.sops[4] > result.sops[1] > 0
