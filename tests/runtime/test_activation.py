"""Pointwise activations, Clip, Softmax and LogSoftmax against onnxruntime."""

import numpy as np
import pytest
from tests.runtime.helpers import check, randn
from onnx import helper


@pytest.mark.parametrize(
    "op, attrs",
    [
        ("Relu", {}),
        ("LeakyRelu", {}),
        ("LeakyRelu", {"alpha": 0.2}),
        ("Sigmoid", {}),
        ("Tanh", {}),
        ("Erf", {}),
    ],
)
@pytest.mark.parametrize("opset", [13, 17])
def test_pointwise(op, attrs, opset):
    check(helper.make_node(op, ["x"], ["y"], **attrs), {"x": 3 * randn(2, 3, 4, 5)}, opset=opset)


def test_gelu():
    for approximate in ("none", "tanh"):
        check(helper.make_node("Gelu", ["x"], ["y"], approximate=approximate), {"x": 3 * randn(2, 7)}, opset=20)


@pytest.mark.parametrize("attrs", [{}, {"min": 0.0}, {"max": 0.5}, {"min": -0.5, "max": 0.5}, {"min": 0.0, "max": 6.0}])
def test_clip_opset_6(attrs):
    check(helper.make_node("Clip", ["x"], ["y"], **attrs), {"x": 3 * randn(3, 4)}, opset=6)


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("low, high", [(None, None), (0.0, 6.0), (-0.5, None), (None, 0.5), (1.0, 1.0), (1.0, -1.0)])
def test_clip_inputs(opset, low, high):
    init, names = {}, ["x"]
    if low is not None or high is not None:
        names.append("" if low is None else "min")
    if low is not None:
        init["min"] = np.float32(low)
    if high is not None:
        names.append("max")
        init["max"] = np.float32(high)
    check(helper.make_node("Clip", names, ["y"]), {"x": 3 * randn(3, 4)}, initializers=init, opset=opset)


def test_clip_runtime_bounds():
    node = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
    check(node, {"x": randn(3, 4), "lo": np.float32(-0.2), "hi": np.float32(0.3)}, opset=13)


def test_clip_integer():
    node = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
    x = np.arange(-5, 5, dtype=np.int64)
    check(node, {"x": x}, initializers={"lo": np.int64(-2), "hi": np.int64(3)}, opset=13)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset", [1, 11])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, 3, -1, -3])
def test_softmax_legacy(op, opset, axis):
    """Before opset 13 the input is coerced to 2-D at axis and normalized over the flattened tail."""
    attrs = {} if axis is None else {"axis": axis}
    check(helper.make_node(op, ["x"], ["y"], **attrs), {"x": 2 * randn(2, 3, 4, 5)}, opset=opset)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -2])
def test_softmax(op, axis):
    attrs = {} if axis is None else {"axis": axis}
    check(helper.make_node(op, ["x"], ["y"], **attrs), {"x": 2 * randn(2, 3, 4, 5)}, opset=13)
