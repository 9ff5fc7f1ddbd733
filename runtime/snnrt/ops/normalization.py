"""BatchNormalization (inference) and LRN."""

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
