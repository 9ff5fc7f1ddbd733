"""SpikingNetwork.run(..., observe=...): every chunk of a named value, by step and sample, in either order."""

import numpy as np
import pytest
import torch
from onnx import helper

from snnrt import contract
from snnrt.neuron import IFParameters, IFState, if_sequence
from snnrt.simulate import SpikingNetwork
from tests.conftest import tiny_snn

STEPS = 7


def _network(order, memory_budget=None):
    """input -> IF 'if' (theta 1) -> s -> IF 'if2' (theta 0.5) -> output."""
    nodes = [helper.make_node(contract.IF_OP, ["s"], ["output"], "if2", domain=contract.DOMAIN, v_threshold=[0.5],
                              v_init=[0.25], reset="subtract", channel_axis=1)]
    return SpikingNetwork(tiny_snn(nodes, output_shape=["batch", 4]), "cpu", order, memory_budget=memory_budget)


def _observed(network, x, name):
    """The values of ``name`` over all steps and samples, put together from the chunks the callback sees."""
    seen = torch.full((STEPS, len(x), 4), float("nan"))
    calls = []

    def callback(values, first_step, first_sample):
        calls.append((first_step, first_sample, tuple(values.shape)))
        seen[first_step : first_step + len(values), first_sample : first_sample + values.shape[1]] = values

    result = network.run(x, STEPS, observe={name: callback})
    return seen, calls, result


@pytest.mark.parametrize("order, budget", [("step", None), ("layer", None), ("layer", 200)])
def test_observe_gives_every_step_of_a_value_in_chunks(order, budget):
    x = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 2.5, (9, 4)).astype(np.float32))
    seen, calls, result = _observed(_network(order, budget), x, "s")
    params = IFParameters(torch.tensor(1.0), torch.tensor(0.5))
    expected, _ = if_sequence(x, IFState(v=torch.full_like(x, 0.5)), params, STEPS, constant_in_time=True)
    assert torch.equal(seen, expected.reshape(STEPS, 9, 4))
    if order == "step":
        assert [c[0] for c in calls] == list(range(STEPS))
    elif budget is not None:  # a budget this small cuts the run into chunks of samples and of steps
        assert len({c[0] for c in calls}) > 1 and len({c[1] for c in calls}) > 1
    for first_sample in {c[1] for c in calls}:  # the steps of each chunk of samples come in order
        firsts = [c[0] for c in calls if c[1] == first_sample]
        assert firsts == sorted(firsts) and firsts[0] == 0
    unobserved = _network(order, budget).run(x, STEPS)
    assert torch.equal(result.outputs, unobserved.outputs)


def test_observe_rejects_names_the_network_does_not_compute():
    x = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"\['input', 'nope'\].*not values computed"):
        _network("step").run(x, 2, observe={"nope": print, "input": print, "s": print})
