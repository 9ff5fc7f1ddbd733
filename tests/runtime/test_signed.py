"""SignedIFNeuron (snnrt.contract): the runtime's eager and fused updates against a scalar reference written from
the contract's equations, the rate code of constant inputs, both execution orders, the statistics and the checks
of its attributes."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from snnrt import contract
from snnrt.cpu_signed import signed_fire_fused
from snnrt.signed_neuron import signed_fire
from snnrt.simulate import SpikingNetwork
from snnrt.validate import InvalidSnnError
from tests.conftest import tiny_snn


def _reference(x, theta, v_init, levels):
    """The contract's equations, one element and one step at a time in float32: spikes (steps, n)."""
    steps, n = x.shape
    spikes = np.zeros_like(x)
    for i in range(n):
        v, size, half = np.float32(v_init[i]), np.float32(theta[i]), np.float32(theta[i] / 2)
        for t in range(steps):
            v = np.float32(v + x[t, i])
            d = np.float32(v - half)
            for k in range(levels):
                level = np.float32(size * 2.0**-k)
                if abs(d) >= level / 2:
                    spikes[t, i] = np.float32(np.sign(d) * level)
                    break
            v = np.float32(v - spikes[t, i])
    return spikes


@pytest.mark.parametrize("levels", [1, 3, 4])
@pytest.mark.parametrize("fire", [signed_fire, signed_fire_fused], ids=["eager", "numba"])
def test_spikes_follow_the_contract(fire, levels, rng):
    steps, n = 12, 40
    x = rng.normal(0, 0.8, (steps, n)).astype(np.float32)
    theta = rng.uniform(0.4, 1.6, n).astype(np.float32)
    v = torch.from_numpy(theta / 2).reshape(1, n).clone()
    spikes = fire(torch.from_numpy(x), v, torch.from_numpy(theta).reshape(1, n), levels, steps)
    expected = _reference(x, theta, theta / 2, levels)
    np.testing.assert_array_equal(spikes.numpy(), expected)
    levels_used = np.unique(np.abs(expected[expected != 0]) / np.repeat(theta[None], steps, 0)[expected != 0])
    assert set(np.round(np.log2(levels_used)).astype(int)) == set(range(-levels + 1, 1))  # every level, no other
    np.testing.assert_allclose(v.numpy()[0], theta / 2 + x.sum(0) - expected.sum(0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fire", [signed_fire, signed_fire_fused], ids=["eager", "numba"])
def test_channels_last_currents_give_the_contiguous_spikes_in_their_layout(fire, rng):
    steps, batch = 3, 2
    x = torch.from_numpy(rng.normal(0, 0.8, (steps * batch, 4, 5, 6)).astype(np.float32))
    theta = torch.from_numpy(rng.uniform(0.4, 1.6, (1, 4, 1, 1)).astype(np.float32))
    results = []
    for memory_format in (torch.contiguous_format, torch.channels_last):
        v = (theta / 2).expand(batch, 4, 5, 6).contiguous(memory_format=memory_format)
        spikes = fire(x.contiguous(memory_format=memory_format), v, theta, 3, steps)
        assert spikes.is_contiguous(memory_format=memory_format) and v.is_contiguous(memory_format=memory_format)
        results.append((spikes, v))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert results[0][0].count_nonzero() > 0


@pytest.mark.parametrize("levels", [1, 4])
def test_the_rate_code_of_a_constant_input_is_within_half_a_threshold_over_t(levels):
    theta = 1.0
    x = torch.linspace(-1.0, 1.0, 41)
    v = torch.full_like(x, theta / 2)
    spikes = signed_fire(x, v, torch.tensor(theta), levels, 64, constant_in_time=True).reshape(64, -1)
    means = spikes.cumsum(0) / torch.arange(1, 65)[:, None]
    bound = theta / (2 * torch.arange(1, 65, dtype=torch.float32))[:, None]
    assert bool(((means - x).abs() <= bound + 1e-6).all())
    assert bool((torch.sign(spikes.sum(0)) == torch.sign(torch.round(x * 64))).all())  # the sign is carried
    assert float((means[-1] - x).abs().max()) < 0.01


def test_more_levels_code_small_values_better_at_small_t():
    x = torch.tensor([0.3, -0.3, 0.1, -0.07])
    errors = {}
    for levels in (1, 4):
        v = torch.full_like(x, 0.5)
        spikes = signed_fire(x, v, torch.tensor(1.0), levels, 4, constant_in_time=True).reshape(4, -1)
        errors[levels] = float((spikes.mean(0) - x).abs().max())
    assert errors[4] < errors[1] / 2, errors


def _signed_net(theta=(1.0,), levels=4, **attrs):
    """tiny_snn's IF spikes -> MatMul (a current that varies in time) -> SignedIFNeuron -> MatMul -> output."""
    weights = np.random.default_rng(5).normal(0, 1, (4, 4)).astype(np.float32)
    attrs = {"v_threshold": list(theta), "v_init": [t / 2 for t in theta], "levels": levels, "channel_axis": 1,
             **attrs}
    nodes = [helper.make_node("MatMul", ["s", "w1"], ["current"], "mm1"),
             helper.make_node(contract.SIGNED_IF_OP, ["current"], ["signed"], "sif", domain=contract.DOMAIN, **attrs),
             helper.make_node("MatMul", ["signed", "w2"], ["output"], "mm2")]
    return tiny_snn(nodes, {"w1": weights, "w2": weights.T.copy()}, output_shape=["batch", 4])


def test_both_orders_agree_and_count_signed_spikes_as_spikes():
    model = _signed_net(theta=(0.8, 1.2, 1.0, 0.5))
    x = torch.from_numpy(np.random.default_rng(2).uniform(0, 2, (6, 4)).astype(np.float32))
    step = SpikingNetwork(model, "cpu", "step").run(x, 16, count_ops=True)
    for fused in (False, None):
        layer = SpikingNetwork(model, "cpu", "layer", fused=fused).run(x, 16, count_ops=True)
        assert layer.spike_counts == step.spike_counts and step.spike_counts["sif"] > 0
        torch.testing.assert_close(layer.outputs, step.outputs, rtol=1e-5, atol=1e-6)
    assert set(step.firing_rates) == {"if", "sif"}
    sops = step.op_counts.per_layer["mm2"]["sops"]  # one accumulate per signed spike and synapse
    assert sops == pytest.approx(step.spike_counts["sif"] / len(x) * 4)


@pytest.mark.parametrize("change, words", [
    (dict(levels=0), "levels must be an integer in 1..16"),
    (dict(levels=contract.MAX_LEVELS + 1), "levels must be an integer"),
    (dict(reset="zero"), "resets by subtraction"),
    (dict(v_spread=0.5), "resets by subtraction and takes no v_spread"),
    (dict(v_threshold=[1.0, -1.0, 1.0, 1.0], v_init=[0.5] * 4), "must be positive"),
    (dict(v_threshold=[1.0, 1.0], v_init=[0.5, 0.5]), "2 values for 4 channels"),
])
def test_bad_attributes_are_refused_naming_the_node(change, words):
    model = _signed_net(**change)
    with pytest.raises(InvalidSnnError, match=f"node 'sif' \\({contract.SIGNED_IF_OP}\\).*{words}"):
        SpikingNetwork(model, "cpu").run(np.ones((1, 4), np.float32), 2)


def test_a_missing_levels_attribute_is_refused():
    model = _signed_net()
    node = model.graph.node[2]
    del node.attribute[[a.name for a in node.attribute].index("levels")]
    with pytest.raises(InvalidSnnError, match="'sif'.*levels must be an integer"):
        SpikingNetwork(model, "cpu")
