"""ExpectationCompensation: the mean of its outputs up to every step is f of the mean of its inputs, in both
execution orders, and the statistics do not count it as spikes."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from snnrt import contract
from snnrt.simulate import SpikingNetwork
from snnrt.validate import InvalidSnnError
from tests.conftest import tiny_snn


def _body(nodes, initializers=()):
    return helper.make_graph(nodes, "f", [helper.make_tensor_value_info("m", TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("f", TensorProto.FLOAT, None)],
                             [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(initializers).items()])


def _compensated(body):
    node = helper.make_node(contract.COMPENSATION_OP, ["s"], ["output"], "ec", domain=contract.DOMAIN,
                            body=body, body_opset=17)
    return tiny_snn([node], output_shape=["batch", 4])


BODIES = {
    "sigmoid": (_body([helper.make_node("Sigmoid", ["m"], ["f"])]), torch.sigmoid),
    "silu": (_body([helper.make_node("Sigmoid", ["m"], ["g"]), helper.make_node("Mul", ["m", "g"], ["f"])]),
             lambda m: m * torch.sigmoid(m)),
    "layernorm": (_body([helper.make_node("LayerNormalization", ["m", "scale"], ["f"], epsilon=1e-5)],
                        {"scale": np.float32([1.0, 2.0, 0.5, 1.0])}),
                  lambda m: torch.nn.functional.layer_norm(m, (4,), torch.tensor([1.0, 2.0, 0.5, 1.0]), eps=1e-5)),
}


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("order", ["step", "layer"])
def test_mean_output_is_f_of_the_mean_input(name, order):
    body, f = BODIES[name]
    network = SpikingNetwork(_compensated(body), "cpu", order)
    x = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 2.5, (3, 4)).astype(np.float32))
    result = network.run(x, 12)
    spikes = SpikingNetwork(tiny_snn([helper.make_node("Identity", ["s"], ["output"])], output_shape=["batch", 4]),
                            "cpu", order).run(x, 12).outputs
    for t in range(12):
        torch.testing.assert_close(result.outputs[t], f(spikes[t]), rtol=1e-5, atol=1e-5)
    assert list(result.firing_rates) == ["if"] and list(result.spike_counts) == ["if"]


def test_orders_agree_and_the_state_resets_between_runs():
    body, _ = BODIES["silu"]
    x = torch.from_numpy(np.random.default_rng(1).uniform(-1, 3, (5, 4)).astype(np.float32))
    step = SpikingNetwork(_compensated(body), "cpu", "step")
    first = step.run(x, 9).outputs
    torch.testing.assert_close(step.run(x, 9).outputs, first)
    torch.testing.assert_close(SpikingNetwork(_compensated(body), "cpu", "layer").run(x, 9).outputs, first,
                               rtol=1e-5, atol=1e-6)


def _product_body():
    return helper.make_graph([helper.make_node("Mul", ["m", "n"], ["f"])], "f",
                             [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "mn"],
                             [helper.make_tensor_value_info("f", TensorProto.FLOAT, None)])


def product_snn(inputs):
    """The SNN of tiny_snn with a second IF layer 'if2' (θ = 0.7) on the input, giving 'r', and a product unit of
    ``inputs``."""
    second = helper.make_node(contract.IF_OP, ["input"], ["r"], "if2", domain=contract.DOMAIN, v_threshold=[0.7],
                              v_init=[0.35], reset="subtract", channel_axis=1)
    node = helper.make_node(contract.COMPENSATION_OP, inputs, ["output"], "ec", domain=contract.DOMAIN,
                            body=_product_body(), body_opset=17)
    return tiny_snn([second, node], output_shape=["batch", 4])


def _anytime(value, x, order, steps):
    """The anytime means of the value ``value`` of product_snn's SNN."""
    model = product_snn(["s", "r"])
    model.graph.node[-1].CopyFrom(helper.make_node("Identity", [value], ["output"]))
    return SpikingNetwork(model, "cpu", order).run(x, steps).outputs


@pytest.mark.parametrize("order", ["step", "layer"])
@pytest.mark.parametrize("inputs", [["s", "r"], ["s", "input"], ["input", "s"]])
def test_the_mean_output_of_a_product_is_the_product_of_the_mean_inputs(order, inputs):
    x = torch.from_numpy(np.random.default_rng(2).uniform(-0.5, 2.5, (3, 4)).astype(np.float32))
    result = SpikingNetwork(product_snn(inputs), "cpu", order).run(x, 12)
    first, second = (_anytime(name, x, order, 12) for name in inputs)
    torch.testing.assert_close(result.outputs, first * second, rtol=1e-5, atol=1e-5)
    assert sorted(result.firing_rates) == ["if", "if2"]


def test_the_product_agrees_in_both_orders_and_is_not_the_product_of_the_spike_trains():
    x = torch.from_numpy(np.random.default_rng(3).uniform(-1, 3, (5, 4)).astype(np.float32))
    step = SpikingNetwork(product_snn(["s", "r"]), "cpu", "step").run(x, 9).outputs
    torch.testing.assert_close(SpikingNetwork(product_snn(["s", "r"]), "cpu", "layer").run(x, 9).outputs, step,
                               rtol=1e-5, atol=1e-6)
    plain = product_snn(["s", "r"])
    plain.graph.node[-1].CopyFrom(helper.make_node("Mul", ["s", "r"], ["output"]))
    spike_products = SpikingNetwork(plain, "cpu", "step").run(x, 9).outputs
    assert (spike_products - step).abs().max() > 0.1


def test_a_body_that_takes_other_inputs_than_the_node_is_refused_by_name():
    with pytest.raises(InvalidSnnError, match="node 'ec' \\(ExpectationCompensation\\): its body must take 1 "
                                              "input\\(s\\), one per input of the node.*it takes 2"):
        SpikingNetwork(_compensated(_product_body()), "cpu")
    model = product_snn(["s", "r"])
    model.graph.node[-1].input.append("s")
    with pytest.raises(InvalidSnnError, match="its body must take 3 input\\(s\\)"):
        SpikingNetwork(model, "cpu")
