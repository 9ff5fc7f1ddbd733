"""Pad against onnxruntime: opset 2 attributes, opset 11+ inputs, modes, opset 18 axes."""

import numpy as np
import pytest
from tests.runtime.helpers import check, randn
from onnx import helper

PADS = [
    [0, 0, 1, 1, 0, 0, 1, 1],  # last two axes, symmetric
    [0, 0, 0, 2, 0, 0, 1, 0],  # asymmetric
    [0, 1, 1, 0, 0, 0, 2, 1],  # channel axis too
    [1, 0, 0, 0, 0, 0, 0, 0],  # batch axis only
    [0, 0, 0, 0, 0, 0, 0, 0],
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", PADS)
def test_pad_opset_2(mode, pads):
    attrs = {"mode": mode, "pads": pads}
    if mode == "constant":
        attrs["value"] = 1.5
    check(helper.make_node("Pad", ["x"], ["y"], **attrs), {"x": randn(2, 3, 4, 5)}, opset=2)


@pytest.mark.parametrize("opset", [11, 13, 18, 19])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", PADS)
def test_pad(opset, mode, pads):
    init = {"pads": np.array(pads, dtype=np.int64)}
    names = ["x", "pads"]
    if mode == "constant":
        init["value"] = np.float32(-2.0)
        names.append("value")
    check(helper.make_node("Pad", names, ["y"], mode=mode), {"x": randn(2, 3, 4, 5)}, initializers=init, opset=opset)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_default_value_and_3d(mode):
    init = {"pads": np.array([0, 2, 1, 0, 1, 3], dtype=np.int64)}
    check(helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode), {"x": randn(2, 5, 6)}, initializers=init, opset=13)


def test_pad_wrap():
    init = {"pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], dtype=np.int64)}
    check(helper.make_node("Pad", ["x", "pads"], ["y"], mode="wrap"), {"x": randn(1, 2, 4, 5)}, initializers=init,
          opset=19)


def test_pad_integer():
    init = {"pads": np.array([1, 2, 0, 1], dtype=np.int64), "value": np.int64(9)}
    check(helper.make_node("Pad", ["x", "pads", "value"], ["y"]), {"x": np.arange(6, dtype=np.int64).reshape(2, 3)},
          initializers=init, opset=13)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("axes, pads", [([2, 3], [1, 0, 2, 1]), ([-1], [2, 1]), ([1, -1], [1, 1, 0, 2]), ([0], [1, 0])])
def test_pad_axes(mode, axes, pads):
    init = {"pads": np.array(pads, dtype=np.int64), "axes": np.array(axes, dtype=np.int64)}
    node = helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"], mode=mode)
    check(node, {"x": randn(2, 3, 4, 5)}, initializers=init, opset=18)


def test_pad_runtime_pads():
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant")
    check(node, {"x": randn(2, 3), "pads": np.array([1, 0, 0, 2], dtype=np.int64)}, opset=13)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_negative_crops(mode):
    init = {"pads": np.array([0, 0, -1, 2, 0, 0, 1, -2], dtype=np.int64)}
    check(helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode), {"x": randn(2, 3, 4, 5)}, initializers=init,
          opset=19)


@pytest.mark.parametrize("mode", ["edge", "wrap"])
def test_pad_wider_than_axis(mode):
    init = {"pads": np.array([0, 0, 5, 7, 0, 0, 6, 4], dtype=np.int64)}
    check(helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode), {"x": randn(1, 2, 3, 4)}, initializers=init,
          opset=19)
