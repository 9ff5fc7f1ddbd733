"""Stateful layers write their output into their input's memory only where nothing else can read that memory
(snnrt.graph: GraphModule._free_after), and doing so changes no result."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from onnx2snn.convert import convert
from onnx2snn.data.datasets import mnist5k
from onnx2snn.load.bundled import bundled_model
from snnrt import contract, cpu_fused
from snnrt.graph import GraphModule
from snnrt.neuron import IFParameters, if_fire, if_initial_state
from snnrt.ops.spiking import IFNeuron, SpikeMaxPool
from snnrt.simulate import SpikingNetwork
from tests import exported_models

W = np.array([[0.5, 1.5, -0.5, 2.0]], np.float32)
KERNELS = ["eager", "numba"] if cpu_fused.available() else ["eager"]


def _use(layer, kernel):
    """Give ``layer`` the IF update ``kernel``; numba's loaded, so that it runs whatever the work (cpu_fused.pays)."""
    if kernel == "numba":
        cpu_fused.load()
    layer.kernel = kernel


def _model(nodes, outputs, initializers=None):
    """Input x (N, 4), weights w (1, 4), an IF node 'if' among ``nodes``."""
    graph = helper.make_graph(
        nodes, "overwrite", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        [numpy_helper.from_array(value, name) for name, value in {"w": W, **(initializers or {})}.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid(contract.DOMAIN, 1)])


def _if(source, output="s", name="if"):
    return helper.make_node(contract.IF_OP, [source], [output], name, domain=contract.DOMAIN, v_threshold=[1.0],
                            v_init=[0.5], reset="subtract", channel_axis=1)


def _node(op, inputs, output):
    return helper.make_node(op, inputs, [output], output)


SHAPE = {"shape": np.array([4, 2], np.int64), "back": np.array([-1, 4], np.int64)}
CASES = {  # name: (nodes, outputs, other initializers, may the IF overwrite its input)
    "fresh value read last by the IF": ([_node("Mul", ["x", "w"], "h"), _if("h"), _node("Add", ["s", "w"], "y")],
                                        ["y"], None, True),
    "value read again later": ([_node("Mul", ["x", "w"], "h"), _if("h"), _node("Add", ["s", "h"], "y")],
                               ["y"], None, False),
    "graph input": ([_if("x"), _node("Add", ["s", "w"], "y")], ["y"], None, False),
    "graph output": ([_node("Mul", ["x", "w"], "h"), _if("h"), _node("Add", ["s", "w"], "y")], ["y", "h"], None,
                     False),
    "view of a value read later": ([_node("Mul", ["x", "w"], "h"), _node("Reshape", ["h", "shape"], "r"), _if("r"),
                                    _node("Reshape", ["s", "back"], "b"), _node("Add", ["b", "h"], "y")],
                                   ["y"], SHAPE, False),
    "view of a dead value": ([_node("Mul", ["x", "w"], "h"), _node("Reshape", ["h", "shape"], "r"), _if("r"),
                              _node("Reshape", ["s", "back"], "y")], ["y"], SHAPE, True),
    "constant": ([_node("Identity", ["c"], "h"), _if("h"), _node("Add", ["s", "x"], "y")], ["y"],
                 {"c": np.full((1, 4), 0.75, np.float32)}, False),
}


@pytest.fixture
def calls(monkeypatch):
    """Each IF call's (into_input, whether its output lies in its input's memory)."""
    seen = []
    forward = IFNeuron.forward_sequence

    def spy(self, x, *args):
        out = forward(self, x, *args)
        seen.append((args[-1], out.data_ptr() == x.data_ptr()))
        return out

    monkeypatch.setattr(IFNeuron, "forward_sequence", spy)
    return seen


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("case", CASES)
def test_the_if_layer_overwrites_its_input_only_where_nothing_else_reads_it(case, kernel, calls, monkeypatch):
    nodes, outputs, initializers, expected = CASES[case]
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 2, (2, 4)).astype(np.float32))
    graph = GraphModule(_model(nodes, outputs, initializers))
    _use(graph.layers[[n.name for n in graph.nodes].index("if")], kernel)
    constants = [b.clone() for b in graph.buffers()]
    original = x.clone()
    with torch.no_grad():
        results = [graph.run(x, inputs_vary=True)[0] for _ in range(2)]  # the second step starts from the first's
        assert calls == [(expected, expected)] * 2
        monkeypatch.setattr(GraphModule, "_free_after", lambda *args: False)
        for layer in graph.stateful_layers():
            layer[1].reset_state()
        reference = [graph.run(x, inputs_vary=True)[0] for _ in range(2)]
    assert calls[2:] == [(False, False)] * 2
    for got, want in zip(results, reference):
        for a, b in zip(got, want):
            assert torch.equal(a, b)
    assert torch.equal(x, original) and all(torch.equal(a, b) for a, b in zip(graph.buffers(), constants))


def test_captured_values_are_not_overwritten(calls):
    nodes, outputs, _, _ = CASES["fresh value read last by the IF"]
    x = torch.ones(3, 4)
    with torch.no_grad():
        _, captured = GraphModule(_model(nodes, outputs)).run(x, capture=["h"], inputs_vary=True)
    assert calls == [(False, False)] and torch.equal(captured["h"], x * torch.from_numpy(W))


def _same_with_and_without_overwriting(model, run, monkeypatch):
    """run(graph) on a new GraphModule of ``model`` gives the same tensors when no input may be overwritten."""
    with torch.no_grad():
        results = run(GraphModule(model))
        monkeypatch.setattr(GraphModule, "_free_after", lambda *args: False)
        reference = run(GraphModule(model))
    assert len(results) == len(reference) and all(torch.equal(a, b) for a, b in zip(results, reference))


def test_values_in_the_static_cache_are_not_overwritten(calls, monkeypatch):
    """``e`` varies with time but is a view of ``h``, which the cache keeps for the next call."""
    nodes = [_node("Mul", ["x", "w"], "h"), _if("h"), _node("Shape", ["s"], "shape"),
             _node("Expand", ["h", "shape"], "e"), _if("e", "s2", "if2"), _node("Add", ["s", "s2"], "y")]
    x = torch.ones(2, 4)

    def run(graph):
        cache = {}
        return [graph.run(x, static_cache=cache)[0][0].clone() for _ in range(3)]

    _same_with_and_without_overwriting(_model(nodes, ["y"]), run, monkeypatch)
    assert calls[:2] == [(False, False)] * 2


def test_values_of_the_enclosing_scope_are_not_overwritten(calls, monkeypatch):
    """An IF layer inside an If branch reads ``h``, which the enclosing graph reads again after the If."""
    out = [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)]
    branch = helper.make_graph([_if("h", "b", "if_in_branch")], "then", [], out)
    other = helper.make_graph([_node("Identity", ["h"], "b")], "else", [], out)
    nodes = [_node("Mul", ["x", "w"], "h"), helper.make_node("If", ["cond"], ["o"], "if_op", then_branch=branch,
                                                               else_branch=other), _node("Add", ["o", "h"], "y")]
    x = torch.full((2, 4), 0.8)
    _same_with_and_without_overwriting(_model(nodes, ["y"], {"cond": np.array(True)}),
                                       lambda graph: [graph.run(x, inputs_vary=True)[0][0]], monkeypatch)
    assert calls[0] == (False, False)


@pytest.mark.parametrize("kernel", ["eager", "compiled", *KERNELS[1:]])
@pytest.mark.parametrize("constant", [False, True])
def test_if_layer_results_do_not_depend_on_into_input(kernel, constant):
    generator = torch.Generator().manual_seed(5)
    steps, batch = 4, 3
    x = torch.randn(batch if constant else steps * batch, 2, 6, generator=generator) + 0.5
    runs = []
    for into_input in (False, True):
        layer = IFNeuron([0.7, 1.1], [0.35, 0.55], "subtract", spread=0.5)
        _use(layer, kernel)
        currents = x.clone()
        runs.append((layer.forward_sequence(currents, steps, constant, into_input), layer.state.v, layer.spikes))
        if kernel == "compiled" or constant:  # torch.compile's kernel makes its own output; a constant is kept
            assert torch.equal(currents, x)
    (spikes, v, count), (spikes_into, v_into, count_into) = runs
    assert torch.equal(spikes, spikes_into) and torch.equal(v, v_into) and int(count) == int(count_into) > 0


def test_eager_if_writes_into_its_input_when_asked():
    params = IFParameters(torch.tensor(1.0), torch.tensor(0.5), "subtract")
    x = torch.tensor([0.2, 0.7, 1.4, 0.1, 0.6, 0.9])
    fired, _ = if_fire(x, if_initial_state(x[:3], params), params, 2, into_input=True)
    assert fired.data_ptr() == x.data_ptr() and torch.equal(fired, torch.tensor([0.0, 1, 1, 0, 0, 1]))


def _pool(x):
    return torch.nn.functional.max_pool2d(x, 2)


def test_spike_max_pool_results_do_not_depend_on_into_input():
    s = (torch.rand(4 * 2, 3, 4, 4, generator=torch.Generator().manual_seed(6)) < 0.4).float() * 0.8
    runs = []
    for into_input in (False, True):
        layer = SpikeMaxPool(_pool)
        runs.append(torch.cat([layer.forward_sequence(s.clone()[:4], 2, False, into_input),
                               layer.forward_sequence(s.clone()[4:], 2, False, into_input)]))
    assert torch.equal(runs[0], runs[1]) and float(runs[0].sum()) > 0
    repeated = s[:1].expand(4, 3, 4, 4)  # one sample's memory for all four: not a place to keep running sums
    expected = SpikeMaxPool(_pool).forward_sequence(repeated.clone(), 2)
    assert torch.equal(SpikeMaxPool(_pool).forward_sequence(repeated, 2, False, True), expected)


def _networks():
    x_train, _ = mnist5k("train")
    x_test, _ = mnist5k("test")
    yield "mnist_cnn_relu", convert(bundled_model("mnist_cnn_relu"), x_train[:64]).model, x_test[:16]
    for name in ("resnet", "densenet_concat", "mobilenetv2"):
        ann = exported_models.get_case(name, "torchscript", 13)
        yield name, convert(ann, exported_models.sample_input(name, 16)).model, exported_models.sample_input(name, 4)


@pytest.mark.parametrize("order", ["step", "layer"])
def test_networks_give_the_same_results_with_and_without_overwriting(order, calls, monkeypatch):
    for name, model, x in _networks():
        network = SpikingNetwork(model, "cpu", order=order, memory_budget=1 << 20)  # several chunks
        calls.clear()
        overwriting = network.run(x, 6)
        assert any(overwrote for _, overwrote in calls), name
        with monkeypatch.context() as patch:
            patch.setattr(GraphModule, "_free_after", lambda *args: False)
            reference = network.run(x, 6)
        assert torch.equal(overwriting.outputs, reference.outputs), name
        assert overwriting.spike_counts == reference.spike_counts, name
