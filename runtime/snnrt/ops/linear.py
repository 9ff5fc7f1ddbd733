"""Gemm and MatMul."""

import torch

from ..registry import register
from .common import Op


@register("Gemm", 1)
def convert_gemm(node):
    """Y = alpha * A' B' + beta * C, A' and B' transposed when transA / transB are set."""
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    trans_a, trans_b = node.attr("transA", 0), node.attr("transB", 0)

    def run(a, b, c=None):
        y = (a.t() if trans_a else a) @ (b.t() if trans_b else b)
        if alpha != 1.0:
            y = y * alpha
        if c is not None:
            y = y + (c * beta if beta != 1.0 else c)
        return y

    return Op("Gemm", run)


@register("MatMul", 1)
def convert_matmul(node):
    return Op("MatMul", torch.matmul)
