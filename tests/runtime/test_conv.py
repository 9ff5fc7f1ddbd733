"""Conv and ConvTranspose against onnxruntime."""

import pytest
from tests.runtime.helpers import check, randn
from onnx import helper


def _conv_case(op, x_shape, w_shape, bias, opset=17, **attrs):
    x, w = randn(*x_shape, seed=1), randn(*w_shape, seed=2)
    init = {"w": w}
    names = ["x", "w"]
    if bias:
        out_channels = w_shape[0] if op == "Conv" else w_shape[1] * attrs.get("group", 1)
        init["b"] = randn(out_channels, seed=3)
        names.append("b")
    check(helper.make_node(op, names, ["y"], **attrs), {"x": x}, initializers=init, opset=opset)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"strides": [2]},
        {"dilations": [2]},
        {"pads": [1, 1]},
        {"pads": [0, 2]},
        {"pads": [2, 1], "strides": [2], "dilations": [2]},
        {"auto_pad": "SAME_UPPER"},
        {"auto_pad": "SAME_LOWER", "strides": [2]},
        {"auto_pad": "VALID", "strides": [3]},
    ],
)
def test_conv_1d(attrs, bias):
    _conv_case("Conv", (2, 4, 11), (6, 4, 3), bias, **attrs)


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"strides": [2, 1]},
        {"dilations": [2, 3]},
        {"pads": [1, 1, 1, 1]},
        {"pads": [0, 1, 2, 0]},
        {"pads": [1, 0, 1, 2], "strides": [2, 2]},
        {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
        {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
        # SAME auto_pad with dilations: onnxruntime rejects it ("Dilation not supported for AutoPadType")
        {"auto_pad": "SAME_LOWER"},
        {"auto_pad": "VALID", "strides": [2, 3]},
        {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_2d(attrs, bias):
    _conv_case("Conv", (2, 4, 9, 8), (6, 4, 3, 3), bias, **attrs)


@pytest.mark.parametrize(
    "x_shape, w_shape, group",
    [
        ((1, 4, 7, 7), (6, 2, 3, 3), 2),  # grouped
        ((1, 4, 7, 7), (4, 1, 3, 3), 4),  # depthwise
        ((1, 4, 7, 7), (8, 1, 3, 3), 4),  # depthwise, channel multiplier 2
        ((1, 6, 10), (6, 1, 3), 6),  # 1-D depthwise
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_groups(x_shape, w_shape, group, bias):
    n = len(x_shape) - 2
    _conv_case("Conv", x_shape, w_shape, bias, group=group, pads=[1] * (2 * n))


def test_conv_runtime_weights():
    """Weights computed at run time: the node must then carry kernel_shape."""
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 0, 0, 1], strides=[2, 1])
    check(node, {"x": randn(1, 2, 6, 5, seed=1), "w": randn(3, 2, 3, 3, seed=2), "b": randn(3, seed=3)})


def test_conv_3d():
    _conv_case("Conv", (1, 2, 5, 6, 4), (3, 2, 3, 3, 3), True, pads=[1, 0, 1, 1, 0, 0], strides=[1, 2, 1])


def test_conv_opset_1():
    _conv_case("Conv", (1, 3, 6, 6), (4, 3, 3, 3), True, opset=1, pads=[1, 1, 1, 1])


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"strides": [2, 2]},
        {"strides": [2, 3], "pads": [1, 0, 0, 1]},
        {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},
        {"strides": [3, 2], "output_padding": [2, 0]},
        {"dilations": [2, 1], "pads": [1, 1, 0, 0]},
        {"group": 2},
        {"group": 2, "strides": [2, 2], "pads": [0, 1, 1, 0], "output_padding": [1, 0]},
        {"auto_pad": "VALID", "strides": [2, 2]},
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose_2d(attrs, bias):
    _conv_case("ConvTranspose", (2, 4, 5, 6), (4, 3, 3, 3), bias, **attrs)


@pytest.mark.parametrize("attrs", [{}, {"strides": [2], "pads": [1, 0], "output_padding": [1]}, {"group": 4}])
def test_conv_transpose_1d(attrs):
    _conv_case("ConvTranspose", (1, 4, 7), (4, 2, 4), True, **attrs)


@pytest.mark.parametrize("size", [14, 7])
def test_a_2d_convolution_on_the_cpu_runs_channels_last_on_large_maps_only(size):
    """Channels-last convolutions are faster on the CPU on large maps and slower on small ones (benchmarks/README.md,
    "Memory layout"); the IF layers read either layout in place (tests/runtime/test_cpu_fused.py)."""
    import torch

    from snnrt.ops import conv
    from snnrt.simulate import SpikingNetwork
    from tests.conftest import make_model

    assert (size * size >= conv.CPU_CHANNELS_LAST_POSITIONS) == (size == 14)
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    shape = [2, 3, size, size]
    model = make_model([node], [("x", shape)], [("y", [2, 4, size, size])], {"w": randn(4, 3, 3, 3, seed=2)})
    graph = SpikingNetwork(model, "cpu").graph
    x = torch.from_numpy(randn(*shape, seed=1))
    for given in (x, x.contiguous(memory_format=torch.channels_last)):
        y = graph.run(given)[0][0]
        assert y.is_contiguous(memory_format=torch.channels_last if size == 14 else torch.contiguous_format)
        assert not y.is_contiguous(memory_format=torch.contiguous_format if size == 14 else torch.channels_last)
