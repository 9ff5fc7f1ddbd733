"""MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool against onnxruntime."""

import numpy as np
import pytest
from tests.runtime.helpers import check, randn
from onnx import helper


@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [2, 2]},
        {"kernel_shape": [2, 2], "strides": [2, 2]},
        {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1},
        {"kernel_shape": [3, 2], "pads": [0, 1, 1, 0]},
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [2, 0, 0, 1], "ceil_mode": 1},
        {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1]},  # pad larger than half the kernel
        {"kernel_shape": [2, 2], "dilations": [2, 2]},
        {"kernel_shape": [3, 3], "dilations": [2, 1], "strides": [1, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1},
        {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER"},
        {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
        {"kernel_shape": [2, 3], "auto_pad": "SAME_LOWER", "strides": [2, 2]},
        {"kernel_shape": [3, 3], "auto_pad": "VALID", "strides": [2, 2]},
    ],
)
def test_max_pool_2d(attrs):
    check(helper.make_node("MaxPool", ["x"], ["y"], **attrs), {"x": randn(2, 3, 7, 8)})


@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [3]},
        {"kernel_shape": [3], "strides": [2], "pads": [1, 0], "ceil_mode": 1},
        {"kernel_shape": [2], "auto_pad": "SAME_LOWER"},
    ],
)
def test_max_pool_1d(attrs):
    check(helper.make_node("MaxPool", ["x"], ["y"], **attrs), {"x": randn(2, 3, 10)})


@pytest.mark.parametrize(
    "x_shape, attrs",
    [
        # ceil_mode with asymmetric or large pads: a last window that would start in the end padding is dropped
        ((1, 2, 6), {"kernel_shape": [2], "strides": [2], "pads": [0, 1]}),
        ((1, 2, 6), {"kernel_shape": [3], "strides": [2], "pads": [2, 2]}),
        ((1, 2, 5, 6), {"kernel_shape": [2, 4], "strides": [2, 3], "pads": [1, 2, 1, 3]}),
        ((1, 2, 8, 9), {"kernel_shape": [3, 4], "strides": [3, 2], "pads": [1, 3, 2, 1]}),
        ((1, 2, 4, 3), {"kernel_shape": [4, 2], "strides": [3, 2], "pads": [2, 1, 3, 0]}),
    ],
)
@pytest.mark.parametrize("op, extra", [("MaxPool", {}), ("AveragePool", {"count_include_pad": 0}),
                                       ("AveragePool", {"count_include_pad": 1})])
def test_pool_ceil_mode_edge_windows(x_shape, attrs, op, extra):
    check(helper.make_node(op, ["x"], ["y"], ceil_mode=1, **attrs, **extra), {"x": randn(*x_shape)}, opset=19)


@pytest.mark.parametrize(
    "x_shape, kernel",
    [((2, 3, 8), [2]), ((2, 3, 6, 6), [2, 2]), ((2, 3, 6, 6), [3, 3]), ((1, 2, 4, 9), [2, 3]),
     ((1, 2, 4, 6, 6), [2, 3, 2])],
)
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("ceil_mode", [0, 1])
def test_windows_that_tile_the_input(x_shape, kernel, op, ceil_mode):
    """Windows as large as their stride over sizes they divide: the runtime adds or takes the maximum of strided
    slices instead of calling torch's pooling (snnrt.ops.pool._tile_reduce)."""
    x = randn(*x_shape)
    x.reshape(-1)[[0, 5]] = [-np.inf, np.inf]
    check(helper.make_node(op, ["x"], ["y"], kernel_shape=kernel, strides=kernel, ceil_mode=ceil_mode), {"x": x},
          opset=19)


def test_max_pool_opset_1():
    check(helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2]), {"x": randn(1, 2, 6, 6)},
          opset=1)


@pytest.mark.parametrize("ceil_mode", [0, 1])
@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize(
    "geometry",
    [
        {"kernel_shape": [3, 3], "strides": [2, 2]},
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"kernel_shape": [3, 2], "strides": [2, 1], "pads": [1, 0, 0, 1]},
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 2, 1, 0]},
        {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    ],
)
def test_average_pool_2d(geometry, count_include_pad, ceil_mode):
    node = helper.make_node("AveragePool", ["x"], ["y"], ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                            **geometry)
    check(node, {"x": randn(2, 3, 8, 7)})


@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
        {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"},
        {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER", "count_include_pad": 1},
        {"kernel_shape": [3, 3], "auto_pad": "VALID", "strides": [2, 2]},
    ],
)
def test_average_pool_auto_pad(attrs):
    check(helper.make_node("AveragePool", ["x"], ["y"], **attrs), {"x": randn(1, 2, 7, 6)})


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_1d(count_include_pad):
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3], strides=[2], pads=[1, 2],
                            count_include_pad=count_include_pad)
    check(node, {"x": randn(2, 3, 9)})


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 5, 4), (1, 2, 3, 4, 5)])
def test_global_pool(op, shape):
    check(helper.make_node(op, ["x"], ["y"]), {"x": randn(*shape)})
