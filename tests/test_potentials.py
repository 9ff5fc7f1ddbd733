"""Potential calibration (onnx2snn.calibrate.potentials): the fitted shift of the initial potentials, and the ANN means
it aims at."""

import numpy as np
import torch
from onnx import helper

from onnx2snn.calibrate.potentials import ann_channel_means, shifted_start
from tests.conftest import make_model

STEPS = (1, 2, 4, 8)


def _rates_for(ann_mean, theta, shift, steps=8):
    """Firing rates by step whose averages over steps 1..T fall short of ann_mean by exactly shift / T."""
    t = torch.arange(1, steps + 1, dtype=torch.float64)[:, None]
    averaged = ann_mean[None] - shift[None] / t
    cumulative = averaged * t / theta
    return torch.diff(cumulative, dim=0, prepend=torch.zeros_like(cumulative[:1])).float()


def test_the_shift_that_explains_the_errors_is_found():
    theta = torch.tensor([1.0, 2.0, 0.5])
    ann_mean = torch.tensor([0.4, 0.9, 0.2], dtype=torch.float64)
    shift = torch.tensor([0.1, -0.3, 0.05], dtype=torch.float64)
    v_init = theta / 2
    new_theta, new_v_init = shifted_start(theta, v_init, ann_mean, _rates_for(ann_mean, theta, shift), STEPS)
    assert torch.equal(new_theta, theta)
    np.testing.assert_allclose(new_v_init.numpy(), (v_init + shift).numpy(), rtol=1e-5)


def test_one_threshold_becomes_one_per_channel_and_starts_stay_within_zero_to_theta():
    theta, v_init = torch.tensor(1.0), torch.tensor(0.5)
    ann_mean = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64)
    shift = torch.tensor([0.8, -0.9, 0.2], dtype=torch.float64)
    new_theta, new_v_init = shifted_start(theta, v_init, ann_mean, _rates_for(ann_mean, torch.ones(3), shift), STEPS)
    assert new_theta.tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(new_v_init.numpy(), [1.0, 0.0, 0.7], rtol=1e-5)


def test_no_error_no_shift():
    theta = torch.tensor([1.0, 1.0])
    rates = torch.full((8, 2), 0.25)  # the average is 0.25 at every T
    _, v_init = shifted_start(theta, theta / 2, torch.tensor([0.25, 0.25], dtype=torch.float64), rates, STEPS)
    np.testing.assert_allclose(v_init.numpy(), [0.5, 0.5], atol=1e-7)


def test_ann_means_are_per_channel_over_samples_and_positions_in_any_batch_size():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["a"], name="act"),
             helper.make_node("ReduceMean", ["a"], ["out"], name="pool", axes=[2, 3], keepdims=0)]
    ann = make_model(nodes, [("input", ["N", 2, 5, 5])], [("out", ["N", 3])], {"w": weight}, opset=13)
    x = rng.normal(size=(7, 2, 5, 5)).astype(np.float32)
    whole = ann_channel_means(ann, ["a", "out"], x, batch_size=7)
    batched = ann_channel_means(ann, ["a", "out"], x, batch_size=3)
    np.testing.assert_allclose(batched["a"], whole["a"], rtol=1e-6)
    np.testing.assert_allclose(batched["out"], whole["a"], rtol=1e-5)  # the mean of a over positions, per sample
    assert whole["a"].shape == (3,) and (whole["a"] > 0).all()
