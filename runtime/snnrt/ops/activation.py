"""Pointwise activations and Softmax."""

import math

import torch
import torch.nn.functional as F

from ..registry import register
from .common import Op


@register("Relu", 1)
def convert_relu(node):
    return Op("Relu", torch.relu)


@register("LeakyRelu", 1)
def convert_leaky_relu(node):
    alpha = node.attr("alpha", 0.01)
    return Op("LeakyRelu", lambda x: F.leaky_relu(x, alpha))


@register("Sigmoid", 1)
def convert_sigmoid(node):
    return Op("Sigmoid", torch.sigmoid)


@register("Tanh", 1)
def convert_tanh(node):
    return Op("Tanh", torch.tanh)


@register("Erf", 1)
def convert_erf(node):
    return Op("Erf", torch.erf)


@register("Gelu", 20)
def convert_gelu(node):
    approximate = node.attr("approximate", "none")
    return Op("Gelu", lambda x: F.gelu(x, approximate=approximate))


@register("Clip", 1)
def convert_clip_attrs(node):
    low, high = node.attr("min", -math.inf), node.attr("max", math.inf)
    return Op("Clip", lambda x: torch.clamp(x, low, high))


@register("Clip", 11)
def convert_clip(node):
    """y = min(max(x, min), max); an absent bound does not clip."""

    def run(x, low=None, high=None):
        if low is None and high is None:
            return x
        return torch.clamp(x, low, high)

    return Op("Clip", run)


def _softmax(fn, node):
    axis = node.attr("axis", 1)

    def run(x):
        # opset < 13: coerce to 2-D at axis, normalize over the flattened tail
        a = axis % x.dim()
        flat = x.reshape(*x.shape[:a], -1) if a < x.dim() - 1 else x
        return fn(flat, dim=-1).reshape(x.shape)

    return run


@register("Softmax", 1)
def convert_softmax_legacy(node):
    return Op("Softmax", _softmax(torch.softmax, node))


@register("LogSoftmax", 1)
def convert_log_softmax_legacy(node):
    return Op("LogSoftmax", _softmax(torch.log_softmax, node))


@register("Softmax", 13)
def convert_softmax(node):
    axis = node.attr("axis", -1)
    return Op("Softmax", lambda x: torch.softmax(x, dim=axis))


@register("LogSoftmax", 13)
def convert_log_softmax(node):
    axis = node.attr("axis", -1)
    return Op("LogSoftmax", lambda x: torch.log_softmax(x, dim=axis))


@register("HardSigmoid", 6)
def convert_hard_sigmoid(node):
    """y = max(0, min(1, alpha * x + beta))."""
    alpha, beta = node.attr("alpha", 0.2), node.attr("beta", 0.5)
    return Op("HardSigmoid", lambda x: torch.clamp(alpha * x + beta, 0.0, 1.0))


@register("HardSwish", 14)
def convert_hard_swish(node):
    """y = x * max(0, min(1, x / 6 + 1/2))."""
    return Op("HardSwish", lambda x: x * torch.clamp(x / 6.0 + 0.5, 0.0, 1.0))
