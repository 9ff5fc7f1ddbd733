"""Broadcasting arithmetic, variadic ops, Where, comparisons and unary maths against onnxruntime."""

import numpy as np
import pytest
from tests.runtime.helpers import check, randn
from onnx import helper

SHAPE_PAIRS = [
    ((2, 3, 4), (2, 3, 4)),
    ((2, 3, 4), (4,)),
    ((2, 3, 4), (3, 1)),
    ((1, 3, 1), (2, 1, 4)),
    ((2, 3, 4), ()),
    ((), (2, 3)),
]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("a_shape, b_shape", SHAPE_PAIRS)
def test_arithmetic(op, a_shape, b_shape):
    b = randn(*b_shape, seed=2)
    b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32) if op == "Div" else b
    check(helper.make_node(op, ["a", "b"], ["y"]), {"a": randn(*a_shape, seed=1), "b": b})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_arithmetic_integer(op, dtype):
    """Integer Div truncates toward zero, as C does (onnxruntime's kernel)."""
    a = np.array([[7, -7, 7, -7, 0, 9], [1, -1, 12, -12, 5, -5]], dtype=dtype)
    b = np.array([2, 2, -2, -2, 3, 4], dtype=dtype)
    check(helper.make_node(op, ["a", "b"], ["y"]), {"a": a, "b": b})


def test_arithmetic_constant_operand():
    check(helper.make_node("Mul", ["a", "k"], ["y"]), {"a": randn(2, 3)}, initializers={"k": np.float32(2.5)})


@pytest.mark.parametrize("opset", [7, 13, 14])
def test_add_opsets(opset):
    check(helper.make_node("Add", ["a", "b"], ["y"]), {"a": randn(2, 3, seed=1), "b": randn(3, seed=2)}, opset=opset)


def test_pow():
    check(helper.make_node("Pow", ["a", "b"], ["y"]), {"a": np.abs(randn(2, 3)) + 0.1, "b": randn(3, seed=2)})


@pytest.mark.parametrize("op", ["Sum", "Max", "Min", "Mean"])
@pytest.mark.parametrize("shapes", [[(2, 3)], [(2, 3), (2, 3)], [(2, 3, 4), (3, 1), (4,)], [(1,), (2, 1), (2, 5), ()]])
def test_variadic(op, shapes):
    inputs = {f"x{i}": randn(*s, seed=i) for i, s in enumerate(shapes)}
    check(helper.make_node(op, list(inputs), ["y"]), inputs)


@pytest.mark.parametrize("op", ["Sum", "Max", "Min", "Mean"])
def test_variadic_opset_6(op):
    """Before opset 8 the inputs must all have the same shape."""
    inputs = {f"x{i}": randn(2, 3, seed=i) for i in range(3)}
    check(helper.make_node(op, list(inputs), ["y"]), inputs, opset=6)


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3), (2, 3)), ((2, 1), (3,), ()), ((3,), (2, 3), (1,))])
def test_where(shapes):
    c_shape, a_shape, b_shape = shapes
    cond = randn(*c_shape, seed=5) > 0
    check(helper.make_node("Where", ["c", "a", "b"], ["y"]),
          {"c": np.asarray(cond), "a": randn(*a_shape, seed=1), "b": randn(*b_shape, seed=2)})


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_comparison(op, dtype):
    a = np.array([[1, 2, 3, 4], [4, 3, 2, 1]], dtype=dtype)
    b = np.array([2, 2, 3, 5], dtype=dtype)
    check(helper.make_node(op, ["a", "b"], ["y"]), {"a": a, "b": b}, opset=16)


@pytest.mark.parametrize("op", ["Neg", "Abs", "Sqrt", "Exp", "Log", "Floor", "Ceil", "Round", "Reciprocal"])
def test_unary(op):
    x = randn(3, 4) * 3
    if op in ("Sqrt", "Log"):
        x = np.abs(x) + 0.1
    if op == "Round":
        x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6], dtype=np.float32)
    check(helper.make_node(op, ["x"], ["y"]), {"x": x})


def test_not():
    check(helper.make_node("Not", ["x"], ["y"]), {"x": np.array([True, False, True])})
