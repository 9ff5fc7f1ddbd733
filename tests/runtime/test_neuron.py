"""IF neuron and spike max-pool semantics (snnrt.neuron, snnrt.ops.spiking)."""

import numpy as np
import pytest
import torch

from snnrt import contract
from snnrt.neuron import IFParameters, if_initial_state, if_step
from snnrt.ops.spiking import IFNeuron, SpikeMaxPool
from snnrt.ops.pool import max_pool_fn


def _run_constant(x, theta, v_init_fraction, steps, reset="subtract"):
    params = IFParameters(torch.tensor(theta), torch.tensor(theta * v_init_fraction), reset)
    state = if_initial_state(x, params)
    total = torch.zeros_like(x)
    for _ in range(steps):
        spikes, state = if_step(x, state, params)
        total += spikes
    return total / steps


@pytest.mark.parametrize("steps", [4, 16, 64])
@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_rate_times_theta_is_clipped_input_within_theta_over_t(steps, fraction):
    theta = 1.5
    x = torch.linspace(-1.0, 2.5, 201)
    rate = _run_constant(x, theta, fraction, steps)
    clipped = torch.clamp(x, 0, theta)
    assert torch.all((rate - clipped).abs() <= theta / steps + 1e-6)


def test_half_threshold_start_rounds_instead_of_flooring():
    theta, steps = 1.0, 4
    x = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.6, 0.9])
    rate = _run_constant(x, theta, 0.5, steps)
    expected = torch.clamp(torch.floor(x * steps / theta + 0.5) * theta / steps, 0, theta)
    assert torch.allclose(rate, expected)
    floored = _run_constant(x, theta, 0.0, steps)
    assert torch.allclose(floored, torch.floor(x * steps / theta) * theta / steps)


def test_spikes_carry_threshold_and_subtract_reset_keeps_residue():
    params = IFParameters(torch.tensor(2.0), torch.tensor(0.0), "subtract")
    state = if_initial_state(torch.zeros(1), params)
    spikes, state = if_step(torch.tensor([2.5]), state, params)
    assert spikes.item() == 2.0 and state.v.item() == pytest.approx(0.5)
    zero = IFParameters(torch.tensor(2.0), torch.tensor(0.0), "zero")
    spikes, state = if_step(torch.tensor([2.5]), if_initial_state(torch.zeros(1), zero), zero)
    assert spikes.item() == 2.0 and state.v.item() == 0.0


def test_if_module_per_channel_threshold_and_reset_between_inputs():
    layer = IFNeuron([1.0, 2.0], [0.5, 0.5], "subtract")
    x = torch.ones(3, 2, 4, 4)
    first = layer(x)
    assert torch.all(first[:, 0] == 1.0) and torch.all(first[:, 1] == 0.0)
    second = layer(x)
    assert torch.all(second[:, 1] == 2.0)
    layer.reset_state()
    assert torch.equal(layer(x), first)
    assert layer.firing_rate() == pytest.approx(0.5)


def test_spike_max_pool_cumulative_output_is_max_of_cumulative_input(rng):
    node = type("N", (), {"attr": lambda self, k, d=None: {"kernel_shape": [2, 2], "strides": [2, 2]}.get(k, d),
                          "outputs": ["y"], "attrs": {}})()
    pool = SpikeMaxPool(max_pool_fn(node))
    spikes = torch.from_numpy((rng.random((20, 2, 3, 4, 4)) < 0.3).astype(np.float32) * 0.7)
    total_in = torch.zeros(2, 3, 4, 4)
    total_out = torch.zeros(2, 3, 2, 2)
    for s in spikes:
        out = pool(s)
        total_in += s
        total_out += out
        assert torch.allclose(total_out, torch.nn.functional.max_pool2d(total_in, 2), atol=1e-5)
        assert set(torch.round(out.unique() / 0.7).tolist()) <= {0.0, 1.0}


def test_spread_offsets_are_a_fixed_even_spread_over_the_neurons():
    offsets = contract.spread_offsets((16, 28, 28))
    assert offsets.shape == (16, 28, 28) and offsets.dtype == np.float32
    assert offsets.min() >= -0.5 and offsets.max() < 0.5
    assert abs(float(offsets.mean())) < 1e-3
    assert np.histogram(offsets, bins=10, range=(-0.5, 0.5))[0].min() >= 0.09 * offsets.size
    assert np.array_equal(offsets, contract.spread_offsets((16, 28, 28)))
    assert np.array_equal(contract.spread_offsets((4, 3)).ravel(), contract.spread_offsets((12,)))


def test_spread_shifts_each_neuron_after_the_first_step_and_still_tracks_the_input():
    theta = np.array([1.0, 2.0], np.float32)
    spread, steps = 0.75, 16
    layer = IFNeuron(theta, theta / 2, "subtract", spread=spread)
    plain = IFNeuron(theta, theta / 2, "subtract")
    x = torch.rand(5, 2, 3, 3, generator=torch.Generator().manual_seed(0)) * 2.5
    first = layer(x)
    assert torch.equal(first, plain(x))
    counts = (first + sum(layer(x) for _ in range(steps - 1))) / torch.from_numpy(theta).reshape(1, 2, 1, 1)
    th = torch.from_numpy(theta).reshape(2, 1, 1)
    shift = spread * torch.from_numpy(contract.spread_offsets((2, 3, 3))) * th
    charge = torch.floor((th / 2 + shift + steps * x) / th)
    expected = torch.maximum(first / th, torch.clamp(charge, 0, steps))
    assert torch.equal(counts, expected)
    assert len(torch.unique(shift)) == shift.numel()
    with pytest.raises(ValueError, match="v_spread must be in"):
        IFNeuron(theta, theta / 2, "subtract", spread=1.5)
