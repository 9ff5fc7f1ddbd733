"""Each normalization pass on a small graph: the form it produces, and ONNX Runtime agreeing before/after."""

import numpy as np
import pytest
from onnx import helper

from onnx2snn.normalize import normalize
from onnx2snn.normalize.canonicalize_flatten import canonicalize_flatten
from onnx2snn.normalize.canonicalize_sum import canonicalize_sum
from onnx2snn.normalize.drop_input_initializers import drop_input_initializers
from onnx2snn.normalize.fold_affine import fold_affine
from onnx2snn.normalize.fold_batchnorm import fold_batchnorm
from onnx2snn.normalize.infer_shapes import infer_shapes
from onnx2snn.normalize.name_nodes import name_nodes
from onnx2snn.normalize.remove_noops import remove_noops
from onnx2snn.normalize.upgrade_opset import upgrade_opset
from tests.conftest import make_model, ort_run

RNG = np.random.default_rng(1)


def _ops(model):
    return [n.op_type for n in model.graph.node]


def _same_function(before, after, shape):
    x = RNG.normal(size=shape).astype(np.float32)
    ref, out = ort_run(before, x)[0], ort_run(after, x)[0]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(ref).max())))


def _bn_params(c):
    return {"s": RNG.uniform(0.5, 2, c), "b": RNG.normal(size=c), "m": RNG.normal(size=c), "v": RNG.uniform(0.5, 2, c)}


def _f32(d):
    return {k: np.asarray(v, np.float32) for k, v in d.items()}


def test_batchnorm_after_conv_is_folded():
    inits = _f32({"k": RNG.normal(size=(4, 3, 3, 3)), **_bn_params(4)})
    nodes = [helper.make_node("Conv", ["input", "k"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["out"], epsilon=1e-3)]
    model = make_model(nodes, [("input", ["N", 3, 6, 6])], [("out", ["N", 4, 4, 4])], inits)
    after = fold_affine(fold_batchnorm(infer_shapes(model)))
    assert _ops(after) == ["Conv"]
    _same_function(model, after, (2, 3, 6, 6))


def test_batchnorm_after_gemm_is_folded():
    inits = _f32({"w": RNG.normal(size=(5, 7)), "bias": RNG.normal(size=5), **_bn_params(5)})
    nodes = [helper.make_node("Gemm", ["input", "w", "bias"], ["g"], transB=1, beta=0.5),
             helper.make_node("BatchNormalization", ["g", "s", "b", "m", "v"], ["out"])]
    model = make_model(nodes, [("input", ["N", 7])], [("out", ["N", 5])], inits)
    after = fold_affine(fold_batchnorm(infer_shapes(model)))
    assert _ops(after) == ["Gemm"]
    _same_function(model, after, (3, 7))


@pytest.mark.parametrize("const_first", [False, True])
def test_decomposed_batchnorm_mul_add_is_folded(const_first):
    inits = _f32({"k": RNG.normal(size=(4, 3, 1, 1)), "scale": RNG.uniform(0.5, 2, (1, 4, 1, 1)),
                  "shift": RNG.normal(size=(4, 1, 1))})
    mul_inputs = ["scale", "c"] if const_first else ["c", "scale"]
    nodes = [helper.make_node("Conv", ["input", "k"], ["c"]), helper.make_node("Mul", mul_inputs, ["m"]),
             helper.make_node("Add", ["m", "shift"], ["out"])]
    model = make_model(nodes, [("input", ["N", 3, 5, 5])], [("out", ["N", 4, 5, 5])], inits)
    after = fold_affine(model)
    assert _ops(after) == ["Conv"]
    assert after.graph.output[0].name == "out"
    _same_function(model, after, (2, 3, 5, 5))


def test_affine_that_is_not_per_channel_stays():
    inits = _f32({"k": RNG.normal(size=(4, 3, 1, 1)), "scale": RNG.uniform(0.5, 2, (1, 4, 5, 5))})
    nodes = [helper.make_node("Conv", ["input", "k"], ["c"]), helper.make_node("Mul", ["c", "scale"], ["out"])]
    model = make_model(nodes, [("input", ["N", 3, 5, 5])], [("out", ["N", 4, 5, 5])], inits)
    assert _ops(fold_affine(model)) == ["Conv", "Mul"]


def test_sum_of_three_becomes_adds():
    nodes = [helper.make_node("Relu", ["input"], ["a"]), helper.make_node("Neg", ["input"], ["b"]),
             helper.make_node("Sum", ["input", "a", "b"], ["out"])]
    model = make_model(nodes, [("input", ["N", 4])], [("out", ["N", 4])])
    after = canonicalize_sum(model)
    assert _ops(after).count("Add") == 2 and "Sum" not in _ops(after)
    _same_function(model, after, (3, 4))


def test_dropout_and_identity_are_removed_and_output_name_kept():
    nodes = [helper.make_node("Relu", ["input"], ["a"]), helper.make_node("Dropout", ["a"], ["d"]),
             helper.make_node("Identity", ["d"], ["out"])]
    model = make_model(nodes, [("input", ["N", 4])], [("out", ["N", 4])])
    after = remove_noops(model)
    assert _ops(after) == ["Relu"] and after.graph.output[0].name == "out"
    _same_function(model, after, (3, 4))


@pytest.mark.parametrize("target", [[0, -1], [-1, 48], [0, 48]])
def test_constant_reshape_to_batch_by_features_becomes_flatten(target):
    nodes = [helper.make_node("Relu", ["input"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["out"])]
    model = make_model(nodes, [("input", ["N", 3, 4, 4])], [("out", ["N", 48])],
                       {"shape": np.asarray(target, np.int64)})
    after = canonicalize_flatten(infer_shapes(model))
    assert _ops(after) == ["Relu", "Flatten"]
    _same_function(model, after, (2, 3, 4, 4))


def test_dynamic_batch_shape_chain_becomes_flatten():
    nodes = [
        helper.make_node("Relu", ["input"], ["r"]),
        helper.make_node("Shape", ["r"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["r", "target"], ["out"]),
    ]
    inits = {"zero": np.asarray(0, np.int64), "axes": np.asarray([0], np.int64),
             "minus_one": np.asarray([-1], np.int64)}
    model = make_model(nodes, [("input", ["N", 3, 4, 4])], [("out", ["N", 48])], inits)
    after = canonicalize_flatten(infer_shapes(model))
    assert _ops(after) == ["Relu", "Flatten"]
    _same_function(model, after, (5, 3, 4, 4))


def test_reshape_that_is_not_a_flatten_stays():
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["out"])]
    model = make_model(nodes, [("input", ["N", 3, 4, 4])], [("out", ["N", 12, 4])],
                       {"shape": np.asarray([0, 12, 4], np.int64)})
    assert _ops(canonicalize_flatten(infer_shapes(model))) == ["Reshape"]


def test_matmul_add_becomes_gemm():
    nodes = [helper.make_node("MatMul", ["input", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["out"])]
    model = make_model(nodes, [("input", ["N", 6])], [("out", ["N", 3])],
                       _f32({"w": RNG.normal(size=(6, 3)), "b": RNG.normal(size=3)}))
    after, _ = normalize(model)
    assert _ops(after) == ["Gemm"]
    _same_function(model, after, (4, 6))


def test_graph_inputs_that_are_initializers_are_dropped():
    nodes = [helper.make_node("Gemm", ["input", "w"], ["out"], transB=1)]
    model = make_model(nodes, [("input", ["N", 4]), ("w", [3, 4])], [("out", ["N", 3])],
                       {"w": np.ones((3, 4), np.float32)})
    after = drop_input_initializers(model)
    assert [i.name for i in after.graph.input] == ["input"]


def test_old_opset_is_upgraded():
    nodes = [helper.make_node("Relu", ["input"], ["a"]), helper.make_node("Unsqueeze", ["a"], ["out"], axes=[1])]
    model = make_model(nodes, [("input", ["N", 4])], [("out", ["N", 1, 4])], opset=9)
    after = upgrade_opset(model)
    assert after.opset_import[0].version == 17
    _same_function(model, after, (2, 4))


def test_nodes_get_unique_names():
    nodes = [helper.make_node("Relu", ["input"], ["a"]), helper.make_node("Relu", ["a"], ["b"], name="x"),
             helper.make_node("Relu", ["b"], ["out"], name="x")]
    model = make_model(nodes, [("input", ["N", 4])], [("out", ["N", 4])])
    names = [n.name for n in name_nodes(model).graph.node]
    assert len(set(names)) == 3 and all(names)
