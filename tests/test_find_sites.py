"""Each recognized activation pattern, built as an exporter writes it, and what blocks conversion."""

import numpy as np
import pytest
from onnx import helper

from onnx2snn.normalize import normalize
from onnx2snn.sites.find_sites import find_sites
from tests.conftest import make_model, ort_run

W = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)


def _model(act_nodes, act_inits=(), head=("Softmax",)):
    """input (N,4) -> Gemm -> [activation nodes: 'h' -> 'a'] -> Gemm -> [head] -> 'out'."""
    nodes = [helper.make_node("Gemm", ["input", "w1"], ["h"], name="fc1", transB=1)]
    nodes += act_nodes
    last = "logits" if head else "out"
    nodes.append(helper.make_node("Gemm", ["a", "w2"], [last], name="fc2", transB=1))
    if head:
        nodes.append(helper.make_node(head[0], [last], ["out"], name="head"))
    inits = {"w1": W, "w2": np.ones((3, 8), np.float32)}
    inits.update(act_inits)
    return make_model(nodes, [("input", ["N", 4])], [("out", ["N", 3])], inits)


def _only_site(model):
    report = find_sites(normalize(model)[0])
    assert not report.problems
    assert len(report.sites) == 1
    return report.sites[0], report


def test_relu():
    site, report = _only_site(_model([helper.make_node("Relu", ["h"], ["a"], name="act")]))
    assert (site.kind, site.bound, site.input, site.output) == ("relu", None, "h", "a")
    assert report.dropped_output == ["head"]


@pytest.mark.parametrize("bound", [6.0, 2.5])
def test_clip_with_bound_relu6(bound):
    nodes = [helper.make_node("Clip", ["h", "zero", "lam"], ["a"], name="act")]
    site, _ = _only_site(_model(nodes, {"zero": np.float32(0), "lam": np.float32(bound)}))
    assert site.kind == "clip" and site.bound == pytest.approx(bound)


def test_clip_without_max_is_relu():
    nodes = [helper.make_node("Clip", ["h", "zero"], ["a"], name="act")]
    site, _ = _only_site(_model(nodes, {"zero": np.float32(0)}))
    assert site.kind == "relu"


def test_min_of_relu_and_bound():
    nodes = [helper.make_node("Relu", ["h"], ["r"], name="act"), helper.make_node("Min", ["r", "lam"], ["a"])]
    site, _ = _only_site(_model(nodes, {"lam": np.float32(1.7)}))
    assert site.kind == "relu_min" and site.bound == pytest.approx(1.7) and site.output == "a"


def test_relu_minus_shifted_relu():
    nodes = [
        helper.make_node("Relu", ["h"], ["r1"], name="act"),
        helper.make_node("Sub", ["h", "lam"], ["shifted"]),
        helper.make_node("Relu", ["shifted"], ["r2"]),
        helper.make_node("Sub", ["r1", "r2"], ["a"]),
    ]
    site, _ = _only_site(_model(nodes, {"lam": np.float32(3.0)}))
    assert site.kind == "relu_minus_relu" and site.bound == pytest.approx(3.0) and len(site.nodes) == 4


def test_qcfs_chain_is_recognized_with_its_levels():
    lam, levels = 2.0, 8
    nodes = [
        helper.make_node("Mul", ["h", "l_over_lam"], ["m"], name="q_mul"),
        helper.make_node("Add", ["m", "half"], ["m2"]),
        helper.make_node("Floor", ["m2"], ["f"], name="q_floor"),
        helper.make_node("Clip", ["f", "zero", "L"], ["c"]),
        helper.make_node("Mul", ["c", "lam_over_l"], ["a"]),
    ]
    inits = {"l_over_lam": np.float32(levels / lam), "half": np.float32(0.5), "zero": np.float32(0),
             "L": np.float32(levels), "lam_over_l": np.float32(lam / levels)}
    model = _model(nodes, inits)
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    ort_run(model, x)
    site, _ = _only_site(model)
    assert site.kind == "qcfs" and site.levels == levels and site.bound == pytest.approx(lam)


def test_floor_that_is_not_qcfs_blocks():
    nodes = [helper.make_node("Floor", ["h"], ["a"], name="plain_floor")]
    report = find_sites(normalize(_model(nodes))[0])
    assert not report.sites and "'plain_floor' (Floor)" in report.refusal(spiking_only=True)


def test_every_node_that_does_not_spike_is_reported_at_once():
    nodes = [
        helper.make_node("Sigmoid", ["h"], ["s"], name="sig"),
        helper.make_node("Tanh", ["s"], ["t"], name="tanh"),
        helper.make_node("HardSwish", ["t"], ["a"], name="hswish"),
    ]
    report = find_sites(normalize(_model(nodes))[0])
    text = report.refusal(spiking_only=True)
    for name, op in (("sig", "Sigmoid"), ("tanh", "Tanh"), ("hswish", "HardSwish")):
        assert f"'{name}' ({op})" in text
    assert "retrain" in text


def test_final_sigmoid_is_dropped_not_blocking():
    report = find_sites(normalize(_model([helper.make_node("Relu", ["h"], ["a"])], head=("Sigmoid",)))[0])
    assert report.dropped_output == ["head"] and not report.problems
