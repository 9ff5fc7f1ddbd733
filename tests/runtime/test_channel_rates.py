"""Per-channel firing rates by step (SpikingNetwork.run(..., channel_rates=True)) against the spikes themselves."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

from snnrt import contract
from snnrt.simulate import SpikingNetwork

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
