"""LeakyReLU and PReLU convert as a pair of IF neurons (positive and negative part): normalization keeps the
function, both sites are found, the SNN converges to the ANN through max pooling too, in both execution orders
and in the standard-ONNX export; NIR, which has no Neg, Mul or Sub, refuses it by node."""

import numpy as np
import pytest
from onnx import helper

from onnx2snn.convert import convert
from onnx2snn.errors import UnsupportedModelError
from onnx2snn.export.nir_graph import export_nir
from onnx2snn.normalize import normalize
from onnx2snn.normalize.split_negative_slopes import split_negative_slopes
from onnx2snn.sites.find_sites import find_sites
from snnrt import contract
from tests.conftest import make_model, ort_run
from tests.export.test_standard_onnx import compare

RNG = np.random.default_rng(11)


def _cnn(activation, slope=None):
    """Conv -> activation -> MaxPool -> Flatten -> Gemm, on (N, 2, 6, 6)."""
    act_inputs = ["c"] + (["slope"] if slope is not None else [])
    attrs = {"alpha": 0.1} if activation == "LeakyRelu" else {}
    nodes = [
        helper.make_node("Conv", ["input", "k", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node(activation, act_inputs, ["a"], name="act", **attrs),
        helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w"], ["out"], transB=1, name="fc"),
    ]
    inits = {"k": RNG.normal(size=(4, 2, 3, 3)).astype(np.float32), "b": np.full(4, -0.3, np.float32),
             "w": RNG.normal(size=(3, 36)).astype(np.float32) / 6}
    if slope is not None:
        inits["slope"] = slope
    return make_model(nodes, [("input", ["N", 2, 6, 6])], [("out", ["N", 3])], inits)


CASES = {
    "leaky_relu": lambda: _cnn("LeakyRelu"),
    "prelu_per_channel": lambda: _cnn("PRelu", np.array([0.05, 0.2, 0.5, 1.5], np.float32).reshape(4, 1, 1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_split_keeps_the_function_and_gives_two_relu_sites(case):
    ann = CASES[case]()
    clean, _ = normalize(ann)
    x = RNG.normal(size=(5, 2, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(ort_run(clean, x)[0], ort_run(ann, x)[0], rtol=1e-5, atol=1e-6)
    report = find_sites(clean)
    assert not report.problems
    assert sorted(s.name for s in report.sites) == ["act_negative", "act_positive"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_snn_converges_to_the_ann_with_negative_values(case):
    ann = CASES[case]()
    x = RNG.normal(size=(64, 2, 6, 6)).astype(np.float32)
    snn = convert(ann, x, threshold="max", layerwise=False)
    ops = [n.op_type for n in snn.model.graph.node]
    assert ops.count(contract.IF_OP) == 2 and contract.MAXPOOL_OP in ops
    reference = ort_run(ann, x)[0]
    by_order = {order: snn.network("cpu", order).run(x, 256).outputs.numpy() for order in ("step", "layer")}
    np.testing.assert_allclose(by_order["layer"], by_order["step"], rtol=0, atol=1e-5)
    errors = [float(np.abs(by_order["step"][t - 1] - reference).mean()) for t in (8, 64, 256)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 0.05 * float(np.abs(reference).mean())
    compare(snn.model, x[:8], 8, exact=False)
    with pytest.raises(UnsupportedModelError, match=r"'act_neg' \(Neg\)"):
        export_nir(snn.model)


def test_prelu_with_a_computed_slope_is_left_and_blocks_by_name():
    nodes = [helper.make_node("Gemm", ["input", "w"], ["h"], transB=1),
             helper.make_node("Sigmoid", ["h"], ["s"], name="gate"),
             helper.make_node("PRelu", ["h", "s"], ["out"], name="learned")]
    model = make_model(nodes, [("input", ["N", 4])], [("out", ["N", 4])],
                       {"w": RNG.normal(size=(4, 4)).astype(np.float32)})
    assert split_negative_slopes(model) is model
    problems = find_sites(normalize(model)[0]).problems
    assert any(p.startswith("node 'learned' (PRelu): a PRelu whose slope is computed") for p in problems)
