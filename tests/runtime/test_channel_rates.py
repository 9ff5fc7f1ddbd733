"""Per-channel firing rates by step (SpikingNetwork.run(..., channel_rates=...)) against the spikes themselves."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

from snnrt import contract
from snnrt.ops.spiking import IFNeuron
from snnrt.simulate import SpikingNetwork
from tests.conftest import tiny_snn

THETA = [1.0, 2.0, 0.5]


def _if_only(shape):
    """An SNN whose output is the spikes of one IF layer with a threshold per channel (axis 1)."""
    node = helper.make_node(contract.IF_OP, ["input"], ["output"], "if", domain=contract.DOMAIN,
                            v_threshold=THETA, v_init=[t / 2 for t in THETA], reset="subtract", channel_axis=1)
    graph = helper.make_graph([node], "if_only", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(contract.DOMAIN, 1)])


@pytest.mark.parametrize("shape", [(5, 3), (5, 3, 4, 2)])
@pytest.mark.parametrize("order", ["step", "layer"])
def test_channel_rates_are_the_spikes_per_channel_and_step(shape, order):
    x = torch.from_numpy(np.random.default_rng(1).uniform(-0.5, 2.5, shape).astype(np.float32))
    steps = 6
    result = SpikingNetwork(_if_only(["N", *shape[1:]]), "cpu", order).run(x, steps, channel_rates=True)
    # the output is the running mean of the spikes (value theta): undo it to get each step's spikes
    t = torch.arange(1, steps + 1, dtype=torch.float64).reshape(-1, *[1] * len(shape))
    totals = result.outputs.double() * t
    spikes = torch.diff(totals, dim=0, prepend=torch.zeros_like(totals[:1]))
    theta = torch.tensor(THETA, dtype=torch.float64).reshape(1, 1, 3, *[1] * (len(shape) - 2))
    per_channel = (spikes / theta).transpose(1, 2).reshape(steps, 3, -1).mean(dim=2)
    rates = result.channel_rates["if"]
    assert rates.shape == (steps, 3) and 0 < float(rates.sum())
    np.testing.assert_allclose(rates.numpy(), per_channel.numpy(), atol=1e-6)


def test_channel_rates_of_named_layers_only():
    second = helper.make_node(contract.IF_OP, ["s"], ["output"], "if2", domain=contract.DOMAIN, v_threshold=[0.5],
                              v_init=[0.25], reset="subtract", channel_axis=1)
    network = SpikingNetwork(tiny_snn([second], output_shape=["batch", 4]), "cpu")
    x = np.random.default_rng(2).uniform(0, 2, (7, 4)).astype(np.float32)
    every = network.run(x, 5, channel_rates=True).channel_rates
    named = network.run(x, 5, channel_rates=["if2"]).channel_rates
    assert set(every) == {"if", "if2"} and set(named) == {"if2"}
    assert torch.equal(named["if2"], every["if2"]) and float(every["if2"].sum()) > 0
    assert network.run(x, 5, channel_rates="if").channel_rates.keys() == {"if"}
    assert network.run(x, 5, channel_rates=np.array(["if2"])).channel_rates.keys() == {"if2"}
    assert network.run(x, 5, channel_rates=[]).channel_rates == {}
    for off in (False, None, 0, np.bool_(False)):
        assert network.run(x, 5, channel_rates=off).channel_rates is None
    with pytest.raises(ValueError, match="'Relu_7'.*not IF nodes"):
        network.run(x, 5, channel_rates=["if", "Relu_7"])


def test_channel_counts_exact_beyond_float32_integers():
    layer = IFNeuron([1.0], [0.5], contract.RESET_SUBTRACT)
    layer.record_channels = True
    layer.forward_sequence(torch.full((1, 1, 2**24 + 1), 2.0), 1)  # every one of 2**24 + 1 positions fires
    assert int(layer.channel_counts[0, 0]) == 2**24 + 1
