"""ONNX layers as NIR nodes: Conv, Gemm/MatMul, BatchNormalization, average pooling, Flatten.

Each function takes the Builder, the ONNX node, its attributes, the input Value and the initializers, and
returns the output Value. Linear layers fold the scale of their input into their weights and write their
output in the ``wanted`` scale (a threshold list from the IF layer that reads it, or None for 1); pooling and Flatten act on each part separately.
"""

import nir
import numpy as np

from snnrt.ops.common import same_pads

from ..errors import UnsupportedModelError
from .nir_values import Part, Value, channel_map, conv_node, per_channel


def unsupported(node, reason):
    return UnsupportedModelError(f"node {node.name!r} ({node.op_type}) cannot be written to NIR: {reason}")


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _initializer(node, index, inits):
    name = node.input[index]
    if name not in inits:
        raise unsupported(node, f"input {name!r} must be a constant (initializer) for NIR")
    return inits[name].astype(np.float64)


def _geometry(node, attrs, shape, kernel):
    """(strides, symmetric pads, dilations, output spatial sizes) of a conv or pool window."""
    n = len(kernel)
    strides = list(attrs.get("strides", [1] * n))
    dilations = list(attrs.get("dilations", [1] * n))
    auto_pad = _text(attrs.get("auto_pad", "NOTSET"))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = same_pads(shape[1:], kernel, strides, dilations, auto_pad == "SAME_UPPER")
    elif auto_pad == "VALID":
        pads = [0] * (2 * n)
    else:
        pads = list(attrs.get("pads", [0] * (2 * n)))
    if pads[:n] != pads[n:]:
        raise unsupported(node, f"pads {pads} differ at the two ends of an axis; NIR takes one padding per axis")
    sizes = [(size + 2 * p - d * (k - 1) - 1) // s + 1
             for size, k, s, p, d in zip(shape[1:], kernel, strides, pads, dilations)]
    return strides, pads[:n], dilations, sizes


def _input(b, node, value):
    """(source node names, per-channel scale of their sum) for a layer that folds its input scale."""
    part = value.full_part()
    if part is not None:
        return [part.node], part.scale
    ones = np.ones(value.shape[0])
    return b.gather(value, ones, node.name), ones


def conv(b, node, attrs, value, inits, wanted):
    weight = _initializer(node, 1, inits)
    if weight.ndim not in (3, 4) or len(value.shape) != weight.ndim - 1:
        raise unsupported(node, "NIR has 1-D and 2-D convolutions only")
    cout, cin_group = weight.shape[:2]
    out_scale = per_channel(1.0 if wanted is None else wanted, cout)
    groups = int(attrs.get("group", 1))
    bias = _initializer(node, 2, inits) if len(node.input) > 2 and node.input[2] else np.zeros(cout)
    sources, scale = _input(b, node, value)
    in_scale = scale.reshape(groups, cin_group)[np.arange(cout) // (cout // groups)]
    spatial = (1,) * (weight.ndim - 2)
    weight = weight * in_scale.reshape(cout, cin_group, *spatial) / out_scale.reshape(cout, 1, *spatial)
    strides, pads, dilations, sizes = _geometry(node, attrs, value.shape, weight.shape[2:])
    layer = conv_node(weight, bias / out_scale, value.shape, strides, pads, dilations, groups,
                      {"onnx_node": node.name})
    name = b.add("conv", layer, sources)
    return Value((cout, *sizes), [Part(name, out_scale, 0, cout)])


def affine(b, node, attrs, value, inits, wanted):
    """Gemm (transA=0) or MatMul with a constant right-hand side, on a flat input."""
    if len(value.shape) != 1:
        raise unsupported(node, f"NIR's Affine takes a flat input; this one has shape {value.shape}")
    if attrs.get("transA", 0):
        raise unsupported(node, "transA=1 (the input transposed)")
    matrix = _initializer(node, 1, inits)
    weight = matrix if attrs.get("transB", 0) else matrix.T
    weight = weight * attrs.get("alpha", 1.0)
    rows = weight.shape[0]
    out_scale = per_channel(1.0 if wanted is None else wanted, rows)
    bias = np.zeros(rows)
    if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
        c = _initializer(node, 2, inits)
        if c.size not in (1, rows):
            raise unsupported(node, f"bias of shape {c.shape}; expected one value per output")
        bias = per_channel(c, rows) * attrs.get("beta", 1.0)
    sources, scale = _input(b, node, value)
    layer = nir.Affine(weight=(weight * scale[None, :] / out_scale[:, None]).astype(np.float32),
                       bias=(bias / out_scale).astype(np.float32), metadata={"onnx_node": node.name})
    return Value((rows,), [Part(b.add("affine", layer, sources), out_scale, 0, rows)])


def batch_norm(b, node, attrs, value, inits, wanted):
    """Inference BatchNormalization as a per-channel affine map (depthwise 1x1 Conv, or Affine)."""
    gamma, beta, mean, var = (_initializer(node, i, inits) for i in (1, 2, 3, 4))
    factor = gamma / np.sqrt(var + attrs.get("epsilon", 1e-5))
    sources, scale = _input(b, node, value)
    channels = value.shape[0]
    out_scale = per_channel(1.0 if wanted is None else wanted, channels)
    layer = channel_map(factor * scale / out_scale, channels, 0, value.shape, {"onnx_node": node.name},
                        bias=(beta - mean * factor) / out_scale)
    return Value(value.shape, [Part(b.add("batchnorm", layer, sources), out_scale, 0, channels)])


def average_pool(b, node, attrs, value, pooling="avg"):
    """AveragePool or GlobalAveragePool as NIR AvgPool2d (``pooling`` 'avg': what snnTorch imports), or as
    SumPool2d with the 1/window factor in the scale ('sum': what Sinabs imports). Both are exact: padding is
    counted in the window (count_include_pad=1, as torch's AvgPool2d does) or refused."""
    if len(value.shape) != 3:
        raise unsupported(node, "NIR has 2-D pooling only")
    if node.op_type == "GlobalAveragePool":
        kernel, strides, pads, sizes = list(value.shape[1:]), list(value.shape[1:]), [0, 0], [1, 1]
    else:
        kernel = list(attrs["kernel_shape"])
        if attrs.get("ceil_mode", 0):
            raise unsupported(node, "ceil_mode=1; NIR pools with floor mode")
        strides, pads, dilations, sizes = _geometry(node, attrs, value.shape, kernel)
        if any(d != 1 for d in dilations):
            raise unsupported(node, "dilated pooling")
        if any(pads) and not attrs.get("count_include_pad", 0):
            raise unsupported(node, "padding with count_include_pad=0 (NIR's pooling counts the padding)")
    kind, window = (nir.AvgPool2d, 1.0) if pooling == "avg" else (nir.SumPool2d, float(np.prod(kernel)))
    parts = []
    for part in value.parts:
        layer = kind(kernel_size=np.array(kernel), stride=np.array(strides), padding=np.array(pads),
                     metadata={"onnx_node": node.name})
        name = b.add(f"{pooling}pool", layer, [part.node])
        parts.append(Part(name, part.scale / window, part.offset, part.channels))
    return Value((value.shape[0], *sizes), parts)


def flatten(b, node, attrs, value):
    """Flatten(axis=1) per part; NIR's start_dim counts without the batch axis, so it is negative."""
    rank = len(value.shape) + 1
    if attrs.get("axis", 1) % rank != 1:
        raise unsupported(node, f"axis={attrs.get('axis')} folds the batch axis; NIR flattens per sample")
    if len(value.shape) == 1:
        return value
    pixels = int(np.prod(value.shape[1:]))
    parts = []
    for part in value.parts:
        layer = nir.Flatten(input_type={"input": np.array((part.channels, *value.shape[1:]))},
                            start_dim=-len(value.shape), end_dim=-1, metadata={"onnx_node": node.name})
        name = b.add("flatten", layer, [part.node])
        parts.append(Part(name, np.repeat(part.scale, pixels), part.offset * pixels, part.channels * pixels))
    return Value((value.shape[0] * pixels,), parts)
