"""Conv and ConvTranspose (1-D, 2-D, 3-D; groups, dilations, explicit and automatic pads).

A 2-D Conv on the CPU whose input map has at least CPU_CHANNELS_LAST_POSITIONS positions reads and returns
channels-last tensors; a smaller one row-major tensors. oneDNN's convolutions of spikes ran 1.0 to 3 times as fast
channels-last on maps of 14x14 and more (8 times on 3 input channels), 0.7 to 1.0 times on smaller maps
(benchmarks/layout_speed.py).
The layers after a convolution keep its layout (elementwise ops, pooling, the IF kernels: snnrt.neuron.layout);
values are the same in either layout up to the order of the convolution's sums.
"""

import torch
import torch.nn.functional as F

from ..registry import register
from .common import Op, resolve_pads, symmetric, torch_pad

# input positions (H x W) from which a 2-D convolution on the CPU runs channels-last, 14 x 14: faster from there
# on, slower below (python benchmarks/layout_speed.py)
CPU_CHANNELS_LAST_POSITIONS = 196
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _geometry(node):
    weight = node.const(1)
    if weight is None and "kernel_shape" not in node.attrs:
        raise NotImplementedError("weights computed at run time need a kernel_shape attribute")
    kernel = list(node.attr("kernel_shape", weight.shape[2:] if weight is not None else []))
    n = len(kernel)
    if n not in _CONV:
        raise NotImplementedError(f"{n}-D convolution")
    return kernel, list(node.attr("strides", [1] * n)), list(node.attr("dilations", [1] * n))


@register("Conv", 1)
def convert_conv(node):
    kernel, strides, dilations = _geometry(node)
    groups = node.attr("group", 1)
    conv = _CONV[len(kernel)]

    def run(x, w, b=None):
        cpu = x.device.type == "cpu"
        channels_last = cpu and x.dim() == 4 and x.shape[2] * x.shape[3] >= CPU_CHANNELS_LAST_POSITIONS
        if channels_last:  # the output too: oneDNN returns a 1-channel input's convolution contiguous
            x = x.contiguous(memory_format=torch.channels_last)
        elif cpu:  # a channels-last input would make a channels-last convolution
            x = x.contiguous()
        pads = resolve_pads(node, x, kernel, strides, dilations)
        if symmetric(pads):
            y = conv(x, w, b, strides, pads[: len(kernel)], dilations, groups)
        else:
            y = conv(F.pad(x, torch_pad(pads)), w, b, strides, 0, dilations, groups)
        return y.contiguous(memory_format=torch.channels_last) if channels_last else y

    return Op("Conv", run)


@register("ConvTranspose", 1)
def convert_conv_transpose(node):
    kernel, strides, dilations = _geometry(node)
    n = len(kernel)
    if "output_shape" in node.attrs or node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise NotImplementedError("ConvTranspose with output_shape or SAME auto_pad")
    groups = node.attr("group", 1)
    output_padding = list(node.attr("output_padding", [0] * n))
    pads = list(node.attr("pads", [0] * (2 * n)))
    conv_t = _CONV_T[n]

    def run(x, w, b=None):
        y = conv_t(x, w, b, strides, 0, output_padding, groups, dilations)
        index = [slice(None), slice(None)]
        for axis in range(n):
            index.append(slice(pads[axis], y.shape[2 + axis] - pads[axis + n]))
        return y[tuple(index)]

    return Op("ConvTranspose", run)
