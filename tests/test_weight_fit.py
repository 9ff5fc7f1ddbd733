"""Weight calibration (onnx2snn.calibrate.weight_fit): input patches, the ridge regression, and its place in layer-wise
calibration."""

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import helper

from onnx2snn.calibrate import weight_fit
from onnx2snn.calibrate.weight_fit import ConvGeometry, fit_weights, octaves
from onnx2snn.convert import convert
from tests.conftest import make_model, ort_run

GENERATOR = torch.Generator().manual_seed(11)


def _conv_node(**attrs):
    return helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", **attrs)


@pytest.mark.parametrize("attrs", [dict(pads=[1, 1, 1, 1]), dict(pads=[0, 1, 2, 0], strides=[2, 2]),
                                   dict(pads=[2, 2, 2, 2], dilations=[2, 2]), dict(group=2, pads=[1, 1, 1, 1])])
def test_patches_are_the_convolution_inputs(attrs):
    x = torch.rand(3, 4, 9, 8, generator=GENERATOR)
    groups = attrs.get("group", 1)
    weight = torch.rand(6, 4 // groups, 3, 3, generator=GENERATOR)
    geometry = ConvGeometry.of(_conv_node(**attrs), weight.numpy())
    top, left, bottom, right = attrs["pads"]
    y = F.conv2d(F.pad(x, (left, right, top, bottom)), weight, None, attrs.get("strides", 1),
                 0, attrs.get("dilations", 1), groups)
    rows = geometry.output_rows(y.shape, 50, GENERATOR)
    patches = geometry.patches(x, rows)
    computed = torch.einsum("mgf,gof->mgo", patches, geometry.features(weight)).reshape(len(rows), 6)
    assert torch.allclose(computed, y[rows[:, 0], :, rows[:, 1], rows[:, 2]], atol=1e-5)
    rebuilt = geometry.weight(geometry.features(weight), weight.shape)
    assert torch.equal(rebuilt, weight)
    # a channels-last weight would give channels-last convolution outputs, which every IF layer then copies
    assert rebuilt.is_contiguous()


@pytest.mark.parametrize("timesteps, spacing, fitted", [
    ((1, 2, 3, 4, 6, 8, 12, 16, 24, 32), None, (1, 2, 4, 8, 16, 32)),
    ((4,), None, (4,)),
    ((1, 3, 5), None, (1, 3, 5)),
    ((1, 2, 3, 4, 5, 6, 7, 8), None, (1, 2, 4, 8)),
    ((3, 10, 11, 40), None, (3, 10, 11, 40)),
    ((1, 2, 3, 4, 6, 8, 12, 16, 24, 32), 4, (1, 4, 16, 32)),
])
def test_the_refit_keeps_the_first_and_last_t_and_no_gap_wider_than_the_spacing(timesteps, spacing, fitted):
    assert octaves(timesteps, spacing) == fitted


def test_layers_the_fit_cannot_refit_are_named_none():
    weight = np.zeros((4, 2, 3, 3), np.float32)
    assert ConvGeometry.of(_conv_node(auto_pad="SAME_UPPER"), weight) is None
    gemm = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transA=1)
    assert ConvGeometry.of(gemm, np.zeros((4, 2), np.float32)) is None
    assert ConvGeometry.of(helper.make_node("Gemm", ["x", "w", "b"], ["y"], alpha=2.0), np.zeros((4, 2))) is None


def _conv_case(groups=1):
    a = torch.rand(16, 4, 10, 10, generator=GENERATOR)
    weight = torch.randn(8, 4 // groups, 3, 3, generator=GENERATOR)
    bias = torch.randn(8, generator=GENERATOR)
    geometry = ConvGeometry((3, 3), pads=(1, 1, 1, 1), groups=groups)
    return a, weight, bias, geometry, F.conv2d(a, weight, bias, padding=1, groups=groups)


def test_inputs_equal_to_the_anns_keep_the_trained_weights():
    a, weight, bias, geometry, y = _conv_case()
    fitted_w, fitted_b = fit_weights(lambda: [a, a, a], y, weight, bias, geometry, GENERATOR)
    assert torch.allclose(fitted_w, weight, atol=1e-3)
    assert torch.allclose(fitted_b, bias, atol=1e-3)


@pytest.mark.parametrize("groups", [1, 4])
def test_inputs_that_arrive_scaled_and_shifted_are_undone(groups):
    # the SNN delivers 0.8 a + 0.05 at every T: the refitted layer computes the ANN's output from that, up to the
    # zero padding (which the shift does not reach) and the ridge towards the trained weights
    a, weight, bias, geometry, y = _conv_case(groups)
    received = 0.8 * a + 0.05
    fitted_w, fitted_b = fit_weights(lambda: [received, received], y, weight, bias, geometry, GENERATOR)
    out = F.conv2d(received, fitted_w, fitted_b, padding=1, groups=groups)
    before = F.conv2d(received, weight, bias, padding=1, groups=groups)
    assert float((out - y).square().mean()) < 0.05 * float((before - y).square().mean())


def test_a_step_whose_rates_are_already_right_holds_the_weights_in_place():
    # one T receives the ANN's input, another a noisy one: the relative weights keep the exact T exact
    a, weight, bias, geometry, y = _conv_case()
    noisy = a + 0.3 * torch.randn(a.shape, generator=GENERATOR)
    fitted_w, fitted_b = fit_weights(lambda: [noisy, a], y, weight, bias, geometry, GENERATOR)
    exact = F.conv2d(a, fitted_w, fitted_b, padding=1)
    assert float((exact - y).square().mean()) < 1e-3 * float(y.square().mean())


def test_a_second_pass_where_the_gram_matrices_do_not_fit_gives_the_same_weights(monkeypatch):
    a, weight, bias, geometry, y = _conv_case(groups=2)
    rates = [a + 0.2 * torch.randn(a.shape, generator=GENERATOR) for _ in range(3)]
    state = GENERATOR.get_state()
    kept = fit_weights(lambda: iter(rates), y, weight, bias, geometry, GENERATOR)
    monkeypatch.setattr(weight_fit, "WEIGHT_FIT_GRAM_MEMORY", 0)
    GENERATOR.set_state(state)
    passes = []
    summed = fit_weights(lambda: passes.append(1) or iter(rates), y, weight, bias, geometry, GENERATOR)
    assert len(passes) == 2
    assert torch.allclose(kept[0], summed[0]) and torch.allclose(kept[1], summed[1])


def test_a_layer_without_error_keeps_its_weights():
    # silent inputs and a target the bias alone gives: every T's error is 0, and nothing may be divided by it
    a, weight, bias, geometry, _ = _conv_case()
    silent = torch.zeros_like(a)
    target = F.conv2d(silent, weight, bias, padding=1)
    assert fit_weights(lambda: [silent, silent], target, weight, bias, geometry, GENERATOR) is None


def test_too_few_rows_leave_the_layer_alone():
    a = torch.rand(4, 300, generator=GENERATOR)
    weight, bias = torch.randn(5, 300, generator=GENERATOR), torch.zeros(5)
    assert fit_weights(lambda: [a], a @ weight.T, weight, bias, ConvGeometry(()), GENERATOR) is None


RNG = np.random.default_rng(7)


def _cnn():
    """conv-ReLU x3 on (N, 1, 8, 8) (the third depthwise), global average pool, fc: all but the first weight layer
    receive spikes."""
    nodes = [helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["a1"], name="act1"),
             helper.make_node("Conv", ["a1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["a2"], name="act2"),
             helper.make_node("Conv", ["a2", "w3", "b3"], ["c3"], name="conv3", pads=[1, 1, 1, 1], group=4),
             helper.make_node("Relu", ["c3"], ["a3"], name="act3"),
             helper.make_node("GlobalAveragePool", ["a3"], ["g"], name="pool"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w4", "b4"], ["out"], name="fc", transB=1)]
    inits = {"w1": RNG.normal(size=(4, 1, 3, 3)).astype(np.float32) / 2, "b1": np.zeros(4, np.float32),
             "w2": RNG.normal(size=(4, 4, 3, 3)).astype(np.float32) / 4, "b2": np.full(4, 0.1, np.float32),
             "w3": RNG.normal(size=(4, 1, 3, 3)).astype(np.float32) / 2, "b3": np.zeros(4, np.float32),
             "w4": RNG.normal(size=(3, 4)).astype(np.float32), "b4": np.zeros(3, np.float32)}
    return make_model(nodes, [("input", ["N", 1, 8, 8])], [("out", ["N", 3])], inits)


def _weights(model):
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


def _output_error(snn, x, steps):
    reference = ort_run(snn.ann, x)[0]
    outputs = snn.network("cpu").run(x, max(steps)).outputs
    return sum(float(((outputs[t - 1].numpy() - reference) ** 2).mean()) for t in steps)


def test_layerwise_calibration_refits_the_weights_that_receive_spikes():
    x = RNG.uniform(size=(128, 1, 8, 8)).astype(np.float32)
    ann = _cnn()
    fitted = convert(ann, x, timesteps=4)
    plain = convert(ann, x, timesteps=4, refit_weights=False)
    trained, refit = _weights(plain.model), _weights(fitted.model)
    assert np.array_equal(trained["w1"], refit["w1"]), "the first conv reads the input, not spikes"
    assert not np.allclose(trained["w2"], refit["w2"])
    assert not np.allclose(trained["w3"], refit["w3"]), "depthwise convs are refitted group by group"
    assert not np.allclose(trained["w4"], refit["w4"]), "the layer that computes the output is refitted too"
    onnx.checker.check_model(fitted.model)
    assert "3 weight layer(s) refitted" in fitted.layerwise
    assert "0 weight layer(s) refitted" in plain.layerwise
    conv2 = next(node for node in fitted.model.graph.node if node.name == "conv2")
    assert conv2.input[1] == "w2", "a refitted weight keeps its name"
    unseen = RNG.uniform(size=(128, 1, 8, 8)).astype(np.float32)
    assert _output_error(fitted, unseen, (3, 4, 5)) < 0.7 * _output_error(plain, unseen, (3, 4, 5))


def test_the_cli_keeps_the_trained_weights_when_asked(tmp_path):
    from click.testing import CliRunner

    from onnx2snn.cli.commands import main

    ann, data = tmp_path / "cnn.onnx", tmp_path / "calib.npy"
    onnx.save(_cnn(), ann)
    np.save(data, RNG.uniform(size=(64, 1, 8, 8)).astype(np.float32))
    written = {}
    for flag in ("--refit-weights", "--keep-weights"):
        out = tmp_path / f"{flag[2:]}.onnx"
        result = CliRunner().invoke(main, ["convert", str(ann), "-o", str(out), "--calib", str(data), flag])
        assert result.exit_code == 0, result.output
        written[flag] = _weights(onnx.load(out))
    trained = _weights(onnx.load(ann))
    assert all(np.array_equal(trained[name], written["--keep-weights"][name]) for name in ("w2", "w3", "w4"))
    assert not np.allclose(trained["w2"], written["--refit-weights"]["w2"])


def test_an_output_layer_with_a_broadcast_bias_keeps_its_weights():
    w1, w2 = RNG.normal(size=(16, 8)).astype(np.float32), RNG.normal(size=(3, 16)).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["input", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["a"], name="act"),
             helper.make_node("Gemm", ["a", "w2", "b2"], ["out"], name="fc2", transB=1)]
    ann = make_model(nodes, [("input", ["N", 8])], [("out", ["N", 3])],
                     {"w1": w1, "b1": np.zeros(16, np.float32), "w2": w2, "b2": np.array([0.5], np.float32)})
    snn = convert(ann, RNG.normal(size=(256, 8)).astype(np.float32), timesteps=4)
    assert np.array_equal(_weights(snn.model)["w2"], w2)


def test_tokens_as_rows_are_not_mistaken_for_time_steps():
    # (N, 4, 8) -> (N*4, 8) rows: with T_max = 4 the row count of a static value equals T_max * N; only the Gemm
    # that reads spikes is refitted, its rows per step being N*4
    nodes = [helper.make_node("Reshape", ["input", "rows"], ["flat"], name="split"),
             helper.make_node("Gemm", ["flat", "w1", "b1"], ["h1"], name="fc1", transB=1),
             helper.make_node("Relu", ["h1"], ["a1"], name="act1"),
             helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], name="fc2", transB=1),
             helper.make_node("Relu", ["h2"], ["a2"], name="act2"),
             helper.make_node("Gemm", ["a2", "w3", "b3"], ["o"], name="fc3", transB=1),
             helper.make_node("Reshape", ["o", "back"], ["out"], name="join")]
    inits = {"rows": np.array([-1, 8], np.int64), "back": np.array([-1, 12], np.int64),
             "w1": RNG.normal(size=(16, 8)).astype(np.float32), "b1": np.zeros(16, np.float32),
             "w2": RNG.normal(size=(8, 16)).astype(np.float32) / 4, "b2": np.zeros(8, np.float32),
             "w3": RNG.normal(size=(3, 8)).astype(np.float32), "b3": np.zeros(3, np.float32)}
    ann = make_model(nodes, [("input", ["N", 4, 8])], [("out", ["N", 12])], inits)
    snn = convert(ann, RNG.normal(size=(64, 4, 8)).astype(np.float32), timesteps=3)
    weights = _weights(snn.model)
    assert np.array_equal(weights["w1"], inits["w1"])
    assert not np.allclose(weights["w2"], inits["w2"])


def test_the_output_layer_follows_the_anns_scores_not_a_dropped_softmax():
    # the SNN drops the final Softmax and keeps its output's name: the refit must aim at the logits under it
    w1, w2 = RNG.normal(size=(32, 8)).astype(np.float32), RNG.normal(size=(5, 32)).astype(np.float32)
    inits = {"w1": w1, "b1": np.zeros(32, np.float32), "w2": w2, "b2": np.zeros(5, np.float32)}
    layers = [helper.make_node("Gemm", ["input", "w1", "b1"], ["h"], name="fc1", transB=1),
              helper.make_node("Relu", ["h"], ["a"], name="act")]
    softmax = make_model([*layers, helper.make_node("Gemm", ["a", "w2", "b2"], ["logits"], name="fc2", transB=1),
                          helper.make_node("Softmax", ["logits"], ["out"], name="softmax")],
                         [("input", ["N", 8])], [("out", ["N", 5])], inits)
    scores = make_model([*layers, helper.make_node("Gemm", ["a", "w2", "b2"], ["out"], name="fc2", transB=1)],
                        [("input", ["N", 8])], [("out", ["N", 5])], inits)
    x = RNG.normal(size=(256, 8)).astype(np.float32)
    snn = convert(softmax, x)
    assert "1 weight layer(s) refitted" in snn.layerwise
    logits = ort_run(scores, x)[0]
    out = snn.network("cpu").run(x, 64).outputs[63].numpy()
    assert np.linalg.norm(out - logits) < 0.2 * np.linalg.norm(logits)
