"""Gemm and MatMul against onnxruntime."""

import numpy as np
import pytest
from tests.runtime.helpers import check, randn
from onnx import helper


@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.5, 2.0), (-1.5, 0.0)])
@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("bias_shape", [(5,), (1, 5), (3, 5), (3, 1), (), None])
def test_gemm(alpha, beta, trans_a, trans_b, bias_shape):
    a = randn(*((4, 3) if trans_a else (3, 4)), seed=1)
    b = randn(*((5, 4) if trans_b else (4, 5)), seed=2)
    init = {"b": b}
    names = ["a", "b"]
    if bias_shape is not None:
        init["c"] = np.asarray(randn(*bias_shape, seed=3) if bias_shape else np.float32(0.7))
        names.append("c")
    node = helper.make_node("Gemm", names, ["y"], alpha=alpha, beta=beta, transA=trans_a, transB=trans_b)
    check(node, {"a": a}, initializers=init)


def test_gemm_runtime_inputs():
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1)
    check(node, {"a": randn(2, 6, seed=1), "b": randn(3, 6, seed=2), "c": randn(3, seed=3)})


@pytest.mark.parametrize("opset", [7, 9, 11])  # onnxruntime has no Gemm kernel before opset 7
def test_gemm_older_opsets(opset):
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1, alpha=0.5, beta=0.25)
    check(node, {"a": randn(2, 6, seed=1)}, initializers={"b": randn(3, 6, seed=2), "c": randn(3, seed=3)},
          opset=opset)


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)),  # batched
        ((2, 3, 4), (4, 5)),  # batched times matrix
        ((4,), (4, 5)),  # vector times matrix
        ((3, 4), (4,)),  # matrix times vector
        ((2, 1, 3, 4), (3, 4, 2)),  # broadcast batch dimensions
    ],
)
def test_matmul(a_shape, b_shape):
    check(helper.make_node("MatMul", ["a", "b"], ["y"]), {"a": randn(*a_shape, seed=1), "b": randn(*b_shape, seed=2)})


def test_matmul_constant_weight():
    check(helper.make_node("MatMul", ["a", "w"], ["y"]), {"a": randn(2, 3, 4)}, initializers={"w": randn(4, 6, seed=4)})
