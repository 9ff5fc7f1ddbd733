"""ReduceMean, ReduceSum, ReduceMax, ReduceMin against onnxruntime (axes as attribute or input by opset)."""

import numpy as np
import pytest
from tests.runtime.helpers import check, randn
from onnx import helper

OPS = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"]
# opset from which each op takes its axes as an input instead of an attribute
AXES_INPUT_SINCE = {"ReduceMean": 18, "ReduceSum": 13, "ReduceMax": 18, "ReduceMin": 18}


def _reduce_node(op, opset, axes, **attrs):
    """The node and its initializers, with axes as an attribute or as an input as the opset wants."""
    if axes is None:
        return helper.make_node(op, ["x"], ["y"], **attrs), {}
    if opset >= AXES_INPUT_SINCE[op]:
        return helper.make_node(op, ["x", "axes"], ["y"], **attrs), {"axes": np.array(axes, dtype=np.int64)}
    return helper.make_node(op, ["x"], ["y"], axes=axes, **attrs), {}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("axes", [None, [1], [-1], [0, 2], [-3, 3]])
@pytest.mark.parametrize("keepdims", [None, 0, 1])
def test_reduce(op, opset, axes, keepdims):
    attrs = {} if keepdims is None else {"keepdims": keepdims}
    node, init = _reduce_node(op, opset, axes, **attrs)
    check(node, {"x": randn(2, 3, 4, 5)}, initializers=init, opset=opset)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("noop", [0, 1])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_empty_axes(op, noop, keepdims):
    """noop_with_empty_axes: with no axes the input passes through unchanged; otherwise every axis is reduced."""
    opset = AXES_INPUT_SINCE[op]
    node = helper.make_node(op, ["x"], ["y"], keepdims=keepdims, noop_with_empty_axes=noop)
    check(node, {"x": randn(2, 3, 4)}, opset=opset)


@pytest.mark.parametrize("op", OPS)
def test_reduce_empty_axes_input(op):
    opset = AXES_INPUT_SINCE[op]
    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=0, noop_with_empty_axes=0)
    check(node, {"x": randn(2, 3, 4)}, initializers={"axes": np.zeros(0, dtype=np.int64)}, opset=opset)


@pytest.mark.parametrize("op", OPS)
def test_reduce_runtime_axes(op):
    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=0)
    check(node, {"x": randn(2, 3, 4), "axes": np.array([0, -1], dtype=np.int64)}, opset=18)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax"])
def test_reduce_integer(op):
    node = helper.make_node(op, ["x"], ["y"], axes=[1], keepdims=0)
    check(node, {"x": np.arange(12, dtype=np.int64).reshape(3, 4)}, opset=11)
