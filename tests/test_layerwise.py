"""Layer-wise calibration (onnx2snn.calibrate.layerwise): per-channel fits of one IF layer, and the pass over a network."""

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from onnx2snn.calibrate import layerwise
from onnx2snn.calibrate.bias_carriers import add_bias, find_bias_carriers
from onnx2snn.calibrate.layerwise import LayerFitter
from onnx2snn.convert import convert, latency_steps
from snnrt import contract
from tests.conftest import make_model, ort_run

STEPS = (1, 2, 4, 8, 16, 32, 64)
RNG = np.random.default_rng(5)


def _fitter(steps=STEPS):
    return LayerFitter(steps)


def _fit(currents, target, theta, biasable=True, steps=STEPS):
    theta = torch.tensor(theta, dtype=torch.float32)
    return _fitter(steps).fit(currents, target, theta, theta / 2, None, contract.RESET_SUBTRACT, biasable)


@pytest.mark.parametrize("steps", [None, 3])
def test_neuron_rows_read_from_a_channels_last_value_are_the_contiguous_ones(steps):
    generator = torch.Generator().manual_seed(5)
    value = torch.randn((steps or 1) * 4, 6, 5, 7, generator=generator)
    offsets = layerwise.neuron_sample((4, 6, 5, 7), 30, generator)
    rows = layerwise.channel_rows(value, offsets, steps)
    assert rows.shape == ((steps,) if steps else ()) + (6, 30)
    transposed_in_memory = value.transpose(2, 3).contiguous().transpose(2, 3)  # neither layout: read from a copy
    for other in (value.contiguous(memory_format=torch.channels_last), transposed_in_memory):
        assert torch.equal(layerwise.channel_rows(other, offsets, steps), rows)


def test_a_threshold_that_clips_is_raised_and_a_right_one_is_kept():
    values = torch.from_numpy(RNG.uniform(0.0, 2.0, size=(2, 256)).astype(np.float32))
    fit = _fit(values, values, [1.0, 2.0])
    assert fit.factor[0] > 1.0
    assert fit.v_threshold[0] >= 1.45
    assert fit.v_threshold[1] == pytest.approx(2.0 * fit.factor[1])
    assert fit.error_after < fit.error_before


def test_each_step_counts_by_its_relative_error_so_the_threshold_does_not_clip_a_heavy_tail():
    # Mostly small activations and a rare large one: at T=1 and 2 a low threshold rounds the many small ones
    # better, at T=64 it clips the large ones; with absolute errors the small T would decide alone.
    values = np.where(RNG.uniform(size=(1, 4096)) < 0.02, 4.0, RNG.uniform(0.0, 1.0, size=(1, 4096)))
    values = torch.from_numpy(values.astype(np.float32))
    fitter = _fitter()
    theta = torch.tensor([3.0])
    errors, _ = fitter.simulate(values, values, theta[None] * torch.tensor([[1.0], [4.0 / 3.0]]),
                                theta[None] * torch.tensor([[0.5], [2.0 / 3.0]]), None, None,
                                contract.RESET_SUBTRACT)
    absolute = errors.sum(1)[:, 0]
    relative = (errors * fitter.relative_weights(errors)[:, None]).sum(1)[:, 0]
    assert absolute[0] < absolute[1]  # absolute errors keep the clipping threshold 3
    assert relative[1] < relative[0]  # relative errors raise it to 4, which clips nothing
    assert fitter.relative_weights(errors).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("constant", [True, False])
def test_the_eager_if_update_fits_as_the_fused_one_does(monkeypatch, constant):
    # the eager update is what runs where the fused CPU kernel does not (CUDA, no numba, a short process)
    if layerwise.cpu_fused.available():
        layerwise.cpu_fused.load()
    generator = torch.Generator().manual_seed(3)
    currents = torch.rand((3, 64) if constant else (64, 3, 64), generator=generator)
    target = torch.rand(3, 64, generator=generator)
    theta = torch.rand(4, 3, generator=generator) + 0.5
    args = (currents, target, theta, theta / 2, 0.1 * theta, 0.2 * torch.rand(3, 64, generator=generator) - 0.1,
            contract.RESET_SUBTRACT)
    fused = _fitter().simulate(*args)
    monkeypatch.setattr(layerwise.cpu_fused, "accepts", lambda x, state: False)
    eager = _fitter().simulate(*args)
    for a, b in zip(fused, eager):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_mean_error_from_upstream_becomes_a_bias_current():
    target = torch.from_numpy(RNG.uniform(0.2, 0.8, size=(3, 512)).astype(np.float32))
    fit = _fit(target - 0.1, target, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(fit.bias, 0.1, atol=0.03)
    assert fit.error_after < 0.2 * fit.error_before


def test_without_a_bias_carrier_the_start_is_shifted_instead():
    target = torch.from_numpy(RNG.uniform(0.2, 0.8, size=(2, 512)).astype(np.float32))
    fit = _fit(target - 0.05, target, [1.0, 1.0], biasable=False, steps=(1, 2, 4))
    assert fit.bias is None
    assert np.all(fit.v_init > 0.5 * fit.v_threshold)
    assert fit.error_after < fit.error_before


@pytest.mark.parametrize("biasable", [True, False])
def test_one_target_step_fits_one_correction(biasable):
    target = torch.from_numpy(RNG.uniform(0.2, 0.8, size=(2, 512)).astype(np.float32))
    fit = _fit(target - 0.1, target, [1.0, 1.0], biasable=biasable, steps=(4,))
    assert np.all(np.isfinite(fit.v_init)) and fit.error_after < fit.error_before
    if biasable:
        np.testing.assert_allclose(fit.bias, 0.1, atol=0.03)
        np.testing.assert_allclose(fit.v_init, 0.5 * fit.v_threshold)


def test_time_varying_currents_are_read_step_by_step():
    target = torch.full((1, 64), 0.5)
    currents = torch.zeros((8, 1, 64))
    currents[:4] = 1.0  # four spikes, then none: theta = 1 gives exactly the target at T = 8
    fit = _fit(currents, target, [1.0], steps=(8,))
    assert fit.factor[0] == 1.0
    assert fit.error_before == 0.0 and fit.error_after == 0.0


def _conv_net(extra_reader=False, bias=True):
    w = RNG.normal(size=(3, 1, 3, 3)).astype(np.float32)
    conv_inputs = ["input", "w", "b"] if bias else ["input", "w"]
    nodes = [helper.make_node("Conv", conv_inputs, ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node(contract.IF_OP, ["c"], ["s"], name="if", domain=contract.DOMAIN, v_threshold=[1.0],
                              v_init=[0.5])]
    outputs = ["s"]
    if extra_reader:
        nodes.append(helper.make_node("Neg", ["c"], ["n"], name="neg"))
        outputs.append("n")
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, ["N", 3, 4, 4]) for o in outputs],
        [onnx.numpy_helper.from_array(w, "w")] + ([onnx.numpy_helper.from_array(np.ones(3, np.float32), "b")]
                                                   if bias else []))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid(contract.DOMAIN, 1)])


def test_bias_carriers_are_convs_that_nothing_else_reads():
    assert find_bias_carriers(_conv_net(), {"if": 3})["if"][0].name == "conv"
    assert find_bias_carriers(_conv_net(extra_reader=True), {"if": 3}) == {}
    assert find_bias_carriers(_conv_net(), {"if": 4}) == {}


def test_a_bias_is_added_or_created():
    model = _conv_net()
    add_bias(model, find_bias_carriers(model, {"if": 3})["if"], [0.5, 0.0, -1.0])
    np.testing.assert_allclose(_bias(model, "conv"), [1.5, 1.0, 0.0])
    assert "b" not in {t.name for t in model.graph.initializer}, "the old bias, now unread, is dropped"
    model = _conv_net(bias=False)
    add_bias(model, find_bias_carriers(model, {"if": 3})["if"], [0.5, 0.0, -1.0])
    np.testing.assert_allclose(_bias(model, "conv"), [0.5, 0.0, -1.0])
    onnx.checker.check_model(model)


def _bias(model, node_name):
    node = next(n for n in model.graph.node if n.name == node_name)
    return next(onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.name == node.input[2])


W1 = RNG.normal(size=(32, 8)).astype(np.float32)
W2 = RNG.normal(size=(32, 32)).astype(np.float32) / 4
W3 = RNG.normal(size=(5, 32)).astype(np.float32) / 4


def _mlp():
    nodes = [helper.make_node("Gemm", ["input", "w1", "b1"], ["h1"], name="fc1", transB=1),
             helper.make_node("Relu", ["h1"], ["a1"], name="act1"),
             helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], name="fc2", transB=1),
             helper.make_node("Relu", ["h2"], ["a2"], name="act2"),
             helper.make_node("Gemm", ["a2", "w3"], ["out"], name="fc3", transB=1)]
    inits = {"w1": W1, "b1": np.zeros(32, np.float32), "w2": W2, "b2": np.zeros(32, np.float32), "w3": W3}
    return make_model(nodes, [("input", ["N", 8])], [("out", ["N", 5])], inits)


def _output_error(snn, x, t):
    reference = ort_run(snn.ann, x)[0]
    return float(((snn.network("cpu").run(x, t).outputs[t - 1].numpy() - reference) ** 2).mean())


def test_layerwise_fit_brings_the_output_closer_to_the_ann():
    x = RNG.normal(size=(256, 8)).astype(np.float32)
    plain = convert(_mlp(), x, layerwise=False)
    fitted = convert(_mlp(), x)
    assert _output_error(fitted, x, 64) < 0.8 * _output_error(plain, x, 64)
    meta = {p.key: p.value for p in fitted.model.metadata_props}
    assert meta[contract.META_LAYERWISE].startswith("layer-wise calibration of 2 IF layer(s)")
    assert meta[contract.META_FITTED_FOR] == "anytime, T=1..64"
    assert all(layer.source.endswith("fitted layer-wise") for layer in fitted.layers)
    assert np.any(_bias(fitted.model, "fc2") != 0), "the second layer's mean error goes into fc2's bias"


def test_a_latency_target_is_what_the_layers_are_fitted_for():
    x = RNG.normal(size=(64, 8)).astype(np.float32)
    fitted = convert(_mlp(), x, timesteps=[8, 4])
    meta = {p.key: p.value for p in fitted.model.metadata_props}
    assert meta[contract.META_FITTED_FOR] == "T=4,8"
    assert "T=3,4,5,7,8,9:" in meta[contract.META_LAYERWISE]  # each target T with its neighbours
    assert fitted.fitted_for == "T=4,8"
    assert latency_steps((1, 2)) == (1, 2, 3)


def test_layerwise_off_is_recorded_and_changes_nothing():
    x = RNG.normal(size=(64, 8)).astype(np.float32)
    snn = convert(_mlp(), x, layerwise=False)
    meta = {p.key: p.value for p in snn.model.metadata_props}
    assert meta[contract.META_LAYERWISE] == "not run"
    assert not np.any(_bias(snn.model, "fc2"))


@pytest.mark.parametrize("bad", [0, [], [0, 4], "4", 2.5])
def test_a_bad_latency_target_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="timesteps"):
        convert(_mlp(), RNG.normal(size=(8, 8)).astype(np.float32), timesteps=bad)


def _clip_mlp():
    nodes = [helper.make_node("Gemm", ["input", "w1", "b1"], ["h1"], name="fc1", transB=1),
             helper.make_node("Clip", ["h1", "lo", "hi"], ["a1"], name="clip1"),
             helper.make_node("Gemm", ["a1", "w3"], ["out"], name="fc3", transB=1)]
    inits = {"w1": W1, "b1": np.zeros(32, np.float32), "lo": np.float32(0.0), "hi": np.float32(1.5),
             "w3": W3}
    return make_model(nodes, [("input", ["N", 8])], [("out", ["N", 5])], inits)


def _spread(snn):
    node = next(n for n in snn.model.graph.node if n.op_type == contract.IF_OP)
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}.get(contract.ATTR_SPREAD)


def test_an_explicit_spread_is_honoured_on_a_trained_bound():
    x = RNG.normal(size=(64, 8)).astype(np.float32)
    assert _spread(convert(_clip_mlp(), x, layerwise=False)) is None
    assert _spread(convert(_clip_mlp(), x, spread=0.5, layerwise=False)) == pytest.approx(0.5)


def test_the_cli_takes_a_latency_target_and_can_skip_layerwise(tmp_path):
    from click.testing import CliRunner

    from onnx2snn.load.bundled import bundled_model
    from onnx2snn.cli.commands import main

    out = tmp_path / "mlp.snn.onnx"
    args = ["--quiet", "convert", str(bundled_model("digits_mlp")), "-o", str(out), "--calib", "digits"]
    result = CliRunner().invoke(main, [*args, "--timesteps", "4", "--no-layerwise"])
    assert result.exit_code == 0, result.output
    assert "fitted for: T=4" in result.output and "layer-wise: not run" in result.output
    result = CliRunner().invoke(main, [*args, "--layerwise-samples", "64"])
    assert result.exit_code == 0, result.output
    assert "fitted for: anytime, T=1..64" in result.output
    assert "layer-wise calibration of 2 IF layer(s) on 64 calibration samples" in result.output
    assert CliRunner().invoke(main, [*args, "--timesteps", "0"]).exit_code == 2
