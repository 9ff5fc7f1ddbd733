"""End-to-end conversion of small graphs: the SNN file, its metadata, and what it computes."""

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from onnx2snn.calibrate import thresholds
from onnx2snn.calibrate.thresholds import ThresholdSpec
from onnx2snn.convert import convert
from onnx2snn.errors import CalibrationError, UnsupportedModelError
from snnrt import contract
from snnrt.simulate import SpikingNetwork
from tests.conftest import make_model, ort_run

RNG = np.random.default_rng(3)
W1 = RNG.normal(size=(16, 6)).astype(np.float32)
W2 = RNG.normal(size=(4, 16)).astype(np.float32) / 4


def _mlp(act_nodes, inits=(), head="Softmax"):
    nodes = [helper.make_node("Gemm", ["input", "w1"], ["h"], name="fc1", transB=1), *act_nodes,
             helper.make_node("Gemm", ["a", "w2"], ["logits"], name="fc2", transB=1)]
    if head:
        nodes.append(helper.make_node(head, ["logits"], ["out"], name="head"))
    out = "out" if head else "logits"
    return make_model(nodes, [("input", ["N", 6])], [(out, ["N", 4])], {"w1": W1, "w2": W2, **dict(inits)})


def _qcfs_mlp(lam, levels):
    nodes = [
        helper.make_node("Div", ["h", "lam"], ["d"]),
        helper.make_node("Mul", ["d", "L"], ["m"]),
        helper.make_node("Add", ["m", "half"], ["m2"]),
        helper.make_node("Floor", ["m2"], ["f"], name="floor"),
        helper.make_node("Clip", ["f", "zero", "L"], ["c"]),
        helper.make_node("Div", ["c", "L"], ["c2"]),
        helper.make_node("Mul", ["c2", "lam"], ["a"]),
    ]
    inits = {"lam": np.float32(lam), "L": np.float32(levels), "half": np.float32(0.5), "zero": np.float32(0)}
    return _mlp(nodes, inits, head=None)


def test_qcfs_snn_equals_ann_exactly_at_t_equals_levels():
    lam, levels = 1.5, 4
    ann = _qcfs_mlp(lam, levels)
    x = RNG.normal(size=(64, 6)).astype(np.float32)
    snn = convert(ann)
    # the scaling before Floor is folded into fc1 by normalization; the fitted input affine undoes it
    assert [layer.source for layer in snn.layers] == ["trained bound (Floor+Clip+Div+Mul)"]
    result = snn.network("cpu").run(x, levels)
    np.testing.assert_allclose(result.outputs[-1].numpy(), ort_run(ann, x)[0], atol=1e-4)


def test_file_is_valid_onnx_with_provenance_and_softmax_dropped(tmp_path):
    ann = _mlp([helper.make_node("Relu", ["h"], ["a"], name="act")])
    x = RNG.normal(size=(200, 6)).astype(np.float32)
    path = tmp_path / "m.snn.onnx"
    snn = convert(ann, x, threshold=ThresholdSpec("percentile", 99.9, per_channel=False), v_init="half",
                  output=path, layerwise=False)
    model = onnx.load(path)
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta[contract.META_CALIBRATION_SAMPLES] == "200"
    assert meta[contract.META_V_INIT_FRACTION] == "0.5"
    assert meta[contract.META_DROPPED_SOFTMAX] == "head"
    assert "percentile 99.9" in meta[contract.META_THRESHOLD_SOURCE]
    ops = [n.op_type for n in model.graph.node]
    assert contract.IF_OP in ops and "Softmax" not in ops and "Relu" not in ops
    node = next(n for n in model.graph.node if n.op_type == contract.IF_OP)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert attrs[contract.ATTR_V_INIT][0] == pytest.approx(attrs[contract.ATTR_THRESHOLD][0] / 2)
    h = np.maximum(x @ W1.T, 0)
    assert attrs[contract.ATTR_THRESHOLD][0] == pytest.approx(np.percentile(h, 99.9), rel=0.01)
    assert snn.dropped_output == ["head"]


def test_snn_output_converges_to_ann_logits_as_t_grows():
    ann = _mlp([helper.make_node("Relu", ["h"], ["a"])], head=None)
    x = RNG.normal(size=(100, 6)).astype(np.float32)
    snn = convert(ann, x, threshold="max")
    reference = ort_run(ann, x)[0]
    result = snn.network("cpu").run(x, 256)
    errors = [float(np.abs(result.outputs[t - 1].numpy() - reference).mean()) for t in (4, 16, 64, 256)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 0.05 * float(np.abs(reference).mean())


def test_per_channel_thresholds_and_dead_channel_warning():
    w1 = W1.copy()
    w1[3] = 0.0
    w1[3, 0] = -1.0  # with non-negative inputs, channel 3 never activates
    nodes = [helper.make_node("Gemm", ["input", "w1"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["a"]),
             helper.make_node("Gemm", ["a", "w2"], ["out"], transB=1)]
    ann = make_model(nodes, [("input", ["N", 6])], [("out", ["N", 4])], {"w1": w1, "w2": W2})
    x = np.abs(RNG.normal(size=(300, 6))).astype(np.float32)
    snn = convert(ann, x, threshold=ThresholdSpec("max", per_channel=True))
    layer = snn.layers[0]
    assert layer.threshold.shape == (16,)
    assert layer.warning and "1 channel(s) never activated" in layer.warning
    assert layer.threshold[3] == pytest.approx(layer.threshold.max())


def test_nan_in_calibration_data_names_the_sample():
    ann = _mlp([helper.make_node("Relu", ["h"], ["a"])])
    x = RNG.normal(size=(50, 6)).astype(np.float32)
    x[37, 2] = np.nan
    with pytest.raises(CalibrationError, match="sample 37 contains NaN"):
        convert(ann, x)


def test_calibration_shape_mismatch_is_explained():
    ann = _mlp([helper.make_node("Relu", ["h"], ["a"])])
    with pytest.raises(CalibrationError, match=r"shape \(10, 5\).*\(N, 6\)"):
        convert(ann, np.zeros((10, 5), np.float32))


def test_missing_calibration_for_plain_relu_is_explained():
    ann = _mlp([helper.make_node("Relu", ["h"], ["a"])])
    with pytest.raises(CalibrationError, match="calibration data is needed"):
        convert(ann)


def test_unconvertible_ops_are_all_listed():
    ann = _mlp([helper.make_node("Tanh", ["h"], ["t"], name="t1"), helper.make_node("Sigmoid", ["t"], ["a"], name="s1")])
    with pytest.raises(UnsupportedModelError) as info:  # spiking only: compensation units are refused too
        convert(ann, np.zeros((4, 6), np.float32), spiking_only=True)
    assert "'t1' (Tanh)" in str(info.value) and "'s1' (Sigmoid)" in str(info.value)


def test_max_pool_on_spikes_becomes_spike_max_pool_and_converges():
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Conv", ["input", "k"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w"], ["out"], transB=1),
    ]
    ann = make_model(nodes, [("input", ["N", 1, 6, 6])], [("out", ["N", 3])],
                     {"k": rng.normal(size=(4, 1, 3, 3)).astype(np.float32),
                      "w": rng.normal(size=(3, 36)).astype(np.float32)})
    x = rng.normal(size=(64, 1, 6, 6)).astype(np.float32)
    snn = convert(ann, x, threshold="max")
    assert contract.MAXPOOL_OP in [n.op_type for n in snn.model.graph.node]
    reference = ort_run(ann, x)[0]
    result = SpikingNetwork(snn.model, "cpu").run(x, 128)
    error = np.abs(result.outputs[-1].numpy() - reference).mean()
    assert error < 0.05 * np.abs(reference).mean()
    assert torch.isfinite(result.outputs).all()


def _spreads(model):
    """{IF node name: its spread, or None when it has none}."""
    return {n.name: next((helper.get_attribute_value(a) for a in n.attribute if a.name == contract.ATTR_SPREAD),
                         None) for n in model.graph.node if n.op_type == contract.IF_OP}


def test_potentials_are_spread_where_thresholds_are_statistics():
    relu_then_clip = [helper.make_node("Relu", ["h"], ["r"], name="relu"),
                      helper.make_node("Clip", ["r", "zero", "lam"], ["a"], name="clip")]
    x = RNG.normal(size=(100, 6)).astype(np.float32)
    ann = _mlp([helper.make_node("Relu", ["h"], ["a"], name="act")], head=None)
    default = convert(ann, x)
    assert list(_spreads(default.model).values()) == [pytest.approx(0.75)]
    meta = {p.key: p.value for p in default.model.metadata_props}
    assert meta[contract.META_SPREAD] == "0.75"
    assert "spread by 0.75*theta after step 1" in meta[contract.META_METHOD]
    assert list(_spreads(convert(ann, x, spread=0.3).model).values()) == [pytest.approx(0.3)]
    assert list(_spreads(convert(ann, x, spread=0).model).values()) == [None]
    assert list(_spreads(convert(ann, x, v_init="zero").model).values()) == [None]
    clipped = _mlp(relu_then_clip, {"zero": np.float32(0), "lam": np.float32(1.5)}, head=None)
    assert list(_spreads(convert(clipped, x).model).values()) == [None]  # a trained bound
    with pytest.raises(ValueError, match="spread must be in"):
        convert(ann, x, spread=2)


def test_a_clip_bound_stays_only_on_the_channels_that_reach_it():
    """ReLU6 on 16 channels: the first 8 are scaled to reach 6 often, the other 8 to stay far below it; those take
    their statistic as threshold, the others keep the bound."""
    weights = W1 * np.where(np.arange(16) < 8, 20.0, 0.3).astype(np.float32)[:, None]
    relu6 = [helper.make_node("Clip", ["h", "zero", "six"], ["a"], name="relu6")]
    ann = make_model([helper.make_node("Gemm", ["input", "w1"], ["h"], name="fc1", transB=1), *relu6,
                      helper.make_node("Gemm", ["a", "w2"], ["logits"], name="fc2", transB=1)],
                     [("input", ["N", 6])], [("logits", ["N", 4])],
                     {"w1": weights, "w2": W2, "zero": np.float32(0), "six": np.float32(6)})
    snn = convert(ann, RNG.normal(size=(500, 6)).astype(np.float32), layerwise=False)
    node = next(n for n in snn.model.graph.node if n.op_type == contract.IF_OP)
    theta = np.array(helper.get_attribute_value(next(a for a in node.attribute if a.name == contract.ATTR_THRESHOLD)))
    assert np.all(theta[:8] == 6.0)
    assert np.all(theta[8:] < 3.0)
    assert "in 8 of 16 channels" in snn.layers[0].source


@pytest.mark.parametrize("share, spread", [(0.0, 0.0), (0.75, 0.75)])
def test_a_layer_counts_as_a_trained_bound_while_cap_trained_share_of_its_channels_keep_it(monkeypatch, share,
                                                                                          spread):
    """Half of the 16 channels keep the bound: a trained-bound layer (no spread) while any channel counts, a
    statistic layer (the default spread) once three quarters must keep it."""
    monkeypatch.setattr(thresholds, "CAP_TRAINED_SHARE", share)
    weights = W1 * np.where(np.arange(16) < 8, 20.0, 0.3).astype(np.float32)[:, None]
    ann = make_model([helper.make_node("Gemm", ["input", "w1"], ["h"], name="fc1", transB=1),
                      helper.make_node("Clip", ["h", "zero", "six"], ["a"], name="relu6"),
                      helper.make_node("Gemm", ["a", "w2"], ["logits"], name="fc2", transB=1)],
                     [("input", ["N", 6])], [("logits", ["N", 4])],
                     {"w1": weights, "w2": W2, "zero": np.float32(0), "six": np.float32(6)})
    snn = convert(ann, RNG.normal(size=(500, 6)).astype(np.float32), layerwise=False)
    node = next(n for n in snn.model.graph.node if n.op_type == contract.IF_OP)
    written = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert written.get(contract.ATTR_SPREAD, 0.0) == pytest.approx(spread)


def test_the_reset_mode_is_written_and_named_in_the_method():
    ann = _mlp([helper.make_node("Relu", ["h"], ["a"], name="act")], head=None)
    x = RNG.normal(size=(50, 6)).astype(np.float32)
    for reset, words in ((contract.RESET_SUBTRACT, "reset by subtraction"), (contract.RESET_ZERO, "reset to zero")):
        model = convert(ann, x, reset=reset).model
        node = next(n for n in model.graph.node if n.op_type == contract.IF_OP)
        assert helper.get_attribute_value(next(a for a in node.attribute if a.name == contract.ATTR_RESET)) == \
            reset.encode()
        assert words in {p.key: p.value for p in model.metadata_props}[contract.META_METHOD]
    with pytest.raises(ValueError, match="reset must be one of"):
        convert(ann, x, reset="hard")


def test_layers_feeding_a_max_pool_get_no_spread():
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Conv", ["input", "k"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="pooled"),
        helper.make_node("Conv", ["r", "k2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="summed"),
        helper.make_node("Add", ["r", "r2"], ["s"]),
        helper.make_node("MaxPool", ["s"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["out"], name="last"),
    ]
    ann = make_model(nodes, [("input", ["N", 1, 6, 6])], [("out", ["N", 3])],
                     {"k": rng.normal(size=(4, 1, 3, 3)).astype(np.float32),
                      "k2": rng.normal(size=(4, 4, 3, 3)).astype(np.float32),
                      "w": rng.normal(size=(3, 36)).astype(np.float32)})
    x = rng.normal(size=(16, 1, 6, 6)).astype(np.float32)
    snn = convert(ann, x)
    assert _spreads(snn.model) == {"pooled_if": None, "summed_if": None, "last_if": pytest.approx(0.75)}
    tuned = convert(ann, x, tune=True, tune_timesteps=(1, 2, 4), tune_samples=16)
    assert "spreads picked" in tuned.tuning
    assert [_spreads(tuned.model)[name] for name in ("pooled_if", "summed_if")] == [None, None]
