"""ScatterND: write slices of ``updates`` into a copy of ``data`` at the positions ``indices`` name."""

import torch

from ..registry import register
from .common import Op

_REDUCE = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


@register("ScatterND", 11)
def convert_scatter_nd(node):
    """indices (..., k) address the first k axes of data; updates (..., *data.shape[k:]). Reduction none writes
    (for duplicate indices the last write wins, as in ONNX Runtime), add/mul/max/min combine with the data."""
    reduction = node.attr("reduction", "none")

    def run(data, indices, updates):
        k = indices.shape[-1]
        rows = data.reshape(-1, *data.shape[k:]).clone()
        index = indices.reshape(-1, k).long()
        sizes = torch.tensor(data.shape[:k], device=index.device)
        index = torch.where(index < 0, index + sizes, index)
        strides = torch.tensor([int(torch.prod(sizes[i + 1:])) for i in range(k)], device=index.device)
        position = (index * strides).sum(dim=1)
        values = updates.reshape(-1, *data.shape[k:]).to(data.dtype)
        if reduction == "none":
            rows[position] = values
        else:
            where = position.reshape(-1, *[1] * (values.dim() - 1)).expand_as(values)
            rows.scatter_reduce_(0, where, values, _REDUCE[reduction])
        return rows.reshape(data.shape)

    return Op("ScatterND", run)
