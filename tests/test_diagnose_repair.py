"""diagnose's repair trials, which rerun only the nodes downstream of each IF layer on values kept from one whole
run, against trials that run the whole repaired SNN."""

import numpy as np
import pytest
from onnx import helper

from onnx2snn.convert import convert
from onnx2snn.defaults import DIAGNOSE_REPAIR_FACTORS
from onnx2snn.report import diagnose_repair
from onnx2snn.report.diagnose_cut import Cut
from onnx2snn.report.diagnose_sites import if_sites, scaled_threshold
from snnrt import cpu_fused
from snnrt.simulate import SpikingNetwork
from tests.conftest import make_model

TIMESTEPS = [1, 2, 4, 8, 16]


@pytest.fixture(scope="module")
def residual():
    """A residual MLP, input (N, 6): a1 = relu(fc1), a2 = relu(fc2(a1)), logits = fc3(a1 + a2), also output h1 =
    fc1's output; converted, with a2's thresholds halved so that some repair gains; and 96 inputs. The numba IF
    kernel, which a long diagnosis runs (snnrt.cpu_fused.pays), is loaded where numba is installed."""
    if cpu_fused.available():
        cpu_fused.load()
    rng = np.random.default_rng(3)
    weights = {"w1": rng.normal(size=(16, 6)), "w2": rng.normal(size=(16, 16)) / 4, "w3": rng.normal(size=(5, 16))}
    nodes = [helper.make_node("Gemm", ["input", "w1"], ["h1"], transB=1), helper.make_node("Relu", ["h1"], ["a1"]),
             helper.make_node("Gemm", ["a1", "w2"], ["h2"], transB=1), helper.make_node("Relu", ["h2"], ["a2"]),
             helper.make_node("Add", ["a1", "a2"], ["s"]), helper.make_node("Gemm", ["s", "w3"], ["logits"], transB=1)]
    ann = make_model(nodes, [("input", ["N", 6])], [("logits", ["N", 5]), ("h1", ["N", 16])],
                     {k: v.astype(np.float32) for k, v in weights.items()})
    x = rng.normal(size=(96, 6)).astype(np.float32)
    snn = convert(ann, x, layerwise=False).model
    names = [site.name for site in if_sites(snn)]
    a1 = np.maximum(x @ weights["w1"].T, 0)
    predictions = ((a1 + np.maximum(a1 @ weights["w2"].T, 0)) @ weights["w3"].T).argmax(1)
    return scaled_threshold(snn, names[1], 0.5), names, x, predictions


def _whole_snn_trials(snn, names, x, target, order):
    """{IF node: (factor, gain)} with every trial a run of the whole repaired SNN."""
    def agreement(model):
        predictions = SpikingNetwork(model, "cpu", order).run(x, TIMESTEPS[-1], keep=TIMESTEPS).predictions()
        return float((predictions.numpy() == target).sum(1).mean() / len(x))

    base, found = agreement(snn), {}
    for name in names:
        tried = {factor: agreement(scaled_threshold(snn, name, factor)) for factor in DIAGNOSE_REPAIR_FACTORS}
        factor = max(tried, key=tried.get)
        found[name] = (factor, 100 * (tried[factor] - base)) if tried[factor] > base else (None, 0.0)
    return found


# chunks of one input (the memory a chunk's kept values may take: 1 byte) and of the batch size, 64 of the 96
@pytest.mark.parametrize(("order", "memory"), [("layer", 1), ("layer", 64 << 20), ("step", 64 << 20)])
def test_reruns_downstream_of_each_layer_score_as_runs_of_the_whole_repaired_snn(residual, order, memory,
                                                                                monkeypatch):
    snn, names, x, target = residual
    monkeypatch.setattr(diagnose_repair, "DIAGNOSE_REPAIR_MEMORY", memory)
    found = diagnose_repair.try_repairs(snn, names, x, target, TIMESTEPS, 64, "cpu", order)
    expected = _whole_snn_trials(snn, names, x, target, order)
    assert any(gain > 0 for _, gain in expected.values())
    assert {name: factor for name, (factor, _) in found.items()} == {n: f for n, (f, _) in expected.items()}
    assert [gain for _, gain in found.values()] == pytest.approx([gain for _, gain in expected.values()], abs=1e-9)


def test_a_cut_reruns_the_nodes_its_layer_reaches_and_keeps_what_they_read_from_the_others(residual):
    snn, names, _, _ = residual
    graph = SpikingNetwork(snn, "cpu").graph
    first, second = Cut(graph, names[0]), Cut(graph, names[1])
    assert first.reaches_output and second.reaches_output
    assert len(first.nodes) == len(graph.nodes) - 1  # all but fc1
    reads = {name for i in second.nodes for name in graph.nodes[i].inputs}
    assert "a1" in second.reads and "a1" in reads  # the skip connection, read by the Add
    assert "h1" in second.reads and "h1" not in reads  # the second output, which a rerun returns too
    assert not first.reads & {name for i in first.nodes for name in graph.nodes[i].outputs}
