"""BatchNormalization (inference), LayerNormalization and LRN."""

import torch
import torch.nn.functional as F

from ..registry import register
from .common import Op


@register("BatchNormalization", 1)
def convert_batch_normalization(node):
    """y = scale * (x - mean) / sqrt(var + epsilon) + bias, per channel (axis 1)."""
    if node.opset < 9 and node.attr("spatial", 1) == 0:
        raise NotImplementedError("BatchNormalization with spatial=0")
    if node.attr("training_mode", 0):
        raise NotImplementedError("BatchNormalization in training mode")
    eps = node.attr("epsilon", 1e-5)

    def run(x, scale, bias, mean, var):
        return F.batch_norm(x, mean, var, scale, bias, False, 0.0, eps)

    return Op("BatchNormalization", run)


@register("LRN", 1)
def convert_lrn(node):
    """y = x / (bias + alpha / size * sum of x^2 over channels [c - (size-1)//2, c + ceil((size-1)/2)])^beta."""
    size = node.attr("size")
    alpha, beta, bias = node.attr("alpha", 1e-4), node.attr("beta", 0.75), node.attr("bias", 1.0)
    front, back = (size - 1) // 2, size - 1 - (size - 1) // 2

    def run(x):
        squares = F.pad((x * x).movedim(1, -1), (front, back))
        summed = squares.unfold(-1, size, 1).sum(-1).movedim(-1, 1)
        return x / torch.pow(bias + alpha / size * summed, beta)

    return Op("LRN", run)


@register("LayerNormalization", 17)
def convert_layer_normalization(node):
    """y = (x - mean) / sqrt(var + epsilon) * scale + bias over the axes from ``axis`` to the last (computed in
    float32 or wider, stash_type); the optional Mean and InvStdDev outputs as well."""
    axis, eps = node.attr("axis", -1), node.attr("epsilon", 1e-5)
    outputs = len(node.outputs)

    def run(x, scale, bias=None):
        first = axis % x.dim()
        axes = tuple(range(first, x.dim()))
        wide = x.to(torch.promote_types(x.dtype, torch.float32))
        mean = wide.mean(dim=axes, keepdim=True)
        inv_std = torch.rsqrt(((wide - mean) ** 2).mean(dim=axes, keepdim=True) + eps)
        y = ((wide - mean) * inv_std).to(x.dtype) * scale
        y = y if bias is None else y + bias
        return (y, mean, inv_std)[:outputs] if outputs > 1 else y

    return Op("LayerNormalization", run)
