"""Threshold tuning by simulation (onnx2snn.tune): what it writes, that it lowers the error it minimizes,
and that the gain holds on held-out data of a trained CNN."""

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from onnx2snn.bundled import bundled_model
from onnx2snn.calibrate import ann_session
from onnx2snn.convert import convert, snn_output_in_ann
from onnx2snn.datasets import mnist5k
from onnx2snn.tune import SCALES, evenly_spaced, tune_thresholds
from snnrt import contract
from snnrt.simulate import SpikingNetwork
from tests.conftest import ort_run
from tests.test_convert import _mlp, _qcfs_mlp

RNG = np.random.default_rng(11)
X = RNG.normal(size=(64, 6)).astype(np.float32)
STEPS = (1, 2, 4, 8)


def _relu_mlp():
    return _mlp([helper.make_node("Relu", ["h"], ["a"], name="act")])


def _thresholds(model):
    return {n.name: np.array(next(a.floats for a in n.attribute if a.name == contract.ATTR_THRESHOLD))
            for n in model.graph.node if n.op_type == contract.IF_OP}


def _error(model, x, reference, steps):
    """The tuning error (onnx2snn.tune) computed here from the anytime outputs of a fresh network."""
    outputs = SpikingNetwork(model, "cpu").run(x, max(steps)).outputs
    reference = torch.as_tensor(reference)
    return sum(float(((outputs[t - 1] - reference) ** 2).mean()) for t in steps) / len(steps) / float(reference.var())


def _logits(ann, x):
    """The ANN's pre-softmax output: what the SNN's output stands for."""
    return ann_session(ann, ["logits"]).run(["logits"], {"input": x})[0]


def test_the_reference_is_the_output_before_a_dropped_softmax():
    snn = convert(_relu_mlp(), X)
    assert snn.dropped_output == ["head"] and snn_output_in_ann(snn.ann, snn.dropped_output) == "logits"
    assert snn_output_in_ann(snn.ann, []) == "out"


def test_tuning_lowers_the_error_and_convert_writes_what_it_found():
    plain = convert(_relu_mlp(), X, threshold="max")
    ann_logits = _logits(plain.ann, X)
    result = tune_thresholds(plain.model, plain.ann, "logits", ["act_if"], X, STEPS, len(X))
    assert result.error_after < result.error_before and result.scales["act_if"] in SCALES
    before = _error(plain.model, X, ann_logits, STEPS)
    assert result.error_before == pytest.approx(before, rel=1e-5)

    tuned = convert(_relu_mlp(), X, threshold="max", tune=True, tune_timesteps=STEPS, tune_samples=len(X))
    scale = result.scales["act_if"]
    np.testing.assert_allclose(_thresholds(tuned.model)["act_if"], _thresholds(plain.model)["act_if"] * scale,
                               rtol=1e-6)
    assert _error(tuned.model, X, ann_logits, STEPS) == pytest.approx(result.error_after, rel=1e-5)
    assert tuned.layers[0].source == f"max per channel x{scale:g} (tuned)"
    meta = {p.key: p.value for p in tuned.model.metadata_props}
    assert meta[contract.META_TUNING] == tuned.tuning == result.describe()
    assert "tuned by simulation" in meta[contract.META_METHOD]
    onnx.checker.check_model(tuned.model)


def test_trained_bounds_are_left_alone():
    snn = convert(_qcfs_mlp(1.5, 4), tune=True)
    assert snn.tuning == "nothing to tune: every threshold is a trained bound"
    assert snn.layers[0].source.startswith("trained bound")


@pytest.mark.parametrize("options, message", [(dict(tune_timesteps=(0, 4)), "time steps"),
                                              (dict(tune_samples=0), "samples")])
def test_bad_tuning_arguments_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        convert(_relu_mlp(), X, tune=True, **options)


def test_evenly_spaced_indices_cover_the_data():
    picks = evenly_spaced(1000, 4)
    assert picks.tolist() == [0, 333, 666, 999]
    assert evenly_spaced(3, 10).tolist() == [0, 1, 2]


def test_tuning_helps_a_trained_cnn_on_held_out_images():
    x_train, _ = mnist5k("train")
    x_test, _ = mnist5k("test")
    held_out = x_test[:300]
    steps = (1, 2, 4, 8)
    plain = convert(bundled_model("mnist_cnn_relu"), x_train[:500])
    tuned = convert(bundled_model("mnist_cnn_relu"), x_train[:500], tune=True, tune_timesteps=steps, tune_samples=64)
    assert any(layer.source.endswith("(tuned)") and " x1 " not in layer.source + " " for layer in tuned.layers)
    logits = ort_run(plain.ann, held_out)[0]  # no softmax: the first output is the logits
    # 0.86 on this machine: the factors fitted on 64 training images carry over to test images
    assert _error(tuned.model, held_out, logits, steps) < 0.9 * _error(plain.model, held_out, logits, steps)
