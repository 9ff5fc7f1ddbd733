"""Shape manipulation and the Shape/Gather/Concat chains that exporters write for dynamic batch."""

import math

import numpy as np
import onnx
import torch

from ..registry import register
from .common import Op, to_ints


@register("Identity", 1)
def convert_identity(node):
    return Op("Identity", lambda x: x)


@register("Dropout", 1)
def convert_dropout(node):
    """Inference: the input unchanged (and an all-true mask when asked for)."""
    return Op("Dropout", lambda x, *_: (x, torch.ones_like(x, dtype=torch.bool)))


@register("Shape", 1)
def convert_shape(node):
    start, end = node.attr("start", 0), node.attr("end", None)

    def run(x):
        return torch.tensor(x.shape[slice(start, end)], dtype=torch.int64, device=x.device)

    return Op("Shape", run)


@register("Size", 1)
def convert_size(node):
    return Op("Size", lambda x: torch.tensor(x.numel(), dtype=torch.int64, device=x.device))


@register("Gather", 1)
def convert_gather(node):
    axis = node.attr("axis", 0)

    def run(x, indices):
        a = axis % x.dim()
        idx = torch.where(indices < 0, indices + x.shape[a], indices)
        picked = x.index_select(a, idx.reshape(-1))
        return picked.reshape(x.shape[:a] + idx.shape + x.shape[a + 1 :])

    return Op("Gather", run)


@register("GatherND", 11)
def convert_gather_nd(node):
    """Slices of x picked by index tuples: the last axis of ``indices`` indexes the axes of x after the first
    ``batch_dims``, which x and indices share (as exporters write adaptive pooling that repeats values)."""
    batch_dims = node.attr("batch_dims", 0)

    def run(x, indices):
        depth = indices.shape[-1]
        batch, rest = x.shape[:batch_dims], x.shape[batch_dims + depth :]
        picked = x.shape[batch_dims : batch_dims + depth]
        sizes = torch.tensor(picked, dtype=torch.int64, device=x.device)
        idx = indices.reshape(math.prod(batch), -1, depth).to(torch.int64)
        idx = torch.where(idx < 0, idx + sizes, idx)
        strides = torch.tensor([math.prod(picked[i + 1 :]) for i in range(depth)], dtype=torch.int64, device=x.device)
        flat = (idx * strides).sum(-1)
        data = x.reshape(math.prod(batch), math.prod(picked), *rest)
        rows = torch.arange(len(data), device=x.device)[:, None]
        return data[rows, flat].reshape(*indices.shape[:-1], *rest)

    return Op("GatherND", run)


@register("Concat", 1)
def convert_concat(node):
    axis = node.attr("axis", 1)
    return Op("Concat", lambda *xs: torch.cat(xs, dim=axis))


@register("Flatten", 1)
def convert_flatten(node):
    """(d0, ..., dn-1) -> (d0 ... d(axis-1), d(axis) ... dn-1); axis may be n, giving (all, 1)."""
    axis = node.attr("axis", 1)

    def run(x):
        a = axis + x.dim() if axis < 0 else axis
        return x.reshape(int(np.prod(x.shape[:a])), int(np.prod(x.shape[a:])))

    return Op("Flatten", run)


def _reshape(x, shape, allowzero):
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


@register("Reshape", 1)
def convert_reshape_attr(node):
    shape = list(node.attr("shape"))
    return Op("Reshape", lambda x: _reshape(x, shape, False))


@register("Reshape", 5)
def convert_reshape(node):
    allowzero = node.attr("allowzero", 0)
    return Op("Reshape", lambda x, shape: _reshape(x, to_ints(shape), allowzero))


@register("Transpose", 1)
def convert_transpose(node):
    perm = node.attr("perm")

    def run(x):
        return x.permute(perm if perm is not None else list(reversed(range(x.dim()))))

    return Op("Transpose", run)


def _squeeze(x, axes):
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(a % x.dim() for a in axes)) if axes else x


def _unsqueeze(x, axes):
    rank = x.dim() + len(axes)
    for a in sorted(a % rank for a in axes):
        x = x.unsqueeze(a)
    return x


@register("Squeeze", 1)
def convert_squeeze_attr(node):
    axes = node.attr("axes")
    return Op("Squeeze", lambda x: _squeeze(x, axes))


@register("Squeeze", 13)
def convert_squeeze(node):
    return Op("Squeeze", lambda x, axes=None: _squeeze(x, None if axes is None else to_ints(axes)))


@register("Unsqueeze", 1)
def convert_unsqueeze_attr(node):
    axes = list(node.attr("axes"))
    return Op("Unsqueeze", lambda x: _unsqueeze(x, axes))


@register("Unsqueeze", 13)
def convert_unsqueeze(node):
    return Op("Unsqueeze", lambda x, axes: _unsqueeze(x, to_ints(axes)))


_TO_THE_END = (2**31 - 1, 2**63 - 1)


def _clamp(index, size, low, high):
    """A Slice bound counted from the end when negative, clamped to [low, high]."""
    return min(max(index + size if index < 0 else index, low), high)


def _slice(x, starts, ends, axes, steps):
    """x[start:end:step] on each axis, with ONNX's bounds (those of onnxruntime).

    Negative starts and ends count from the end of the axis; then start is clamped to [0, n] and end to
    [0, n], or to [0, n-1] and [-1, n-1] for negative steps; an end of INT32_MAX or INT64_MAX means 'to the
    end' in the step's direction, like numpy's None.
    """
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= x.dim()
        size = x.shape[axis]
        keep = (slice(None),) * axis
        if step > 0:
            x = x[keep + (slice(_clamp(start, size, 0, size), _clamp(end, size, 0, size), step),)]
        else:
            # on the reversed axis, position i is n-1-i and the step is positive
            start = _clamp(start, size, 0, size - 1)
            end = -1 if end in _TO_THE_END else _clamp(end, size, -1, size - 1)
            x = x.flip(axis)[keep + (slice(size - 1 - start, size - 1 - end, -step),)]
    return x


@register("Slice", 1)
def convert_slice_attr(node):
    starts, ends, axes = node.attr("starts"), node.attr("ends"), node.attr("axes")
    return Op("Slice", lambda x: _slice(x, starts, ends, axes, None))


@register("Slice", 10)
def convert_slice(node):
    def run(x, starts, ends, axes=None, steps=None):
        return _slice(
            x,
            to_ints(starts),
            to_ints(ends),
            None if axes is None else to_ints(axes),
            None if steps is None else to_ints(steps),
        )

    return Op("Slice", run)


@register("Cast", 1)
def convert_cast(node):
    to = node.attr("to")
    if isinstance(to, str):
        to = onnx.TensorProto.DataType.Value(to.upper())
    dtype = torch.from_numpy(np.zeros(0, dtype=onnx.helper.tensor_dtype_to_np_dtype(to))).dtype
    return Op("Cast", lambda x: x.to(dtype))


@register("ConstantOfShape", 9)
def convert_constant_of_shape(node):
    value = node.attr("value")
    value = np.zeros((), dtype=np.float32) if value is None else np.asarray(value).reshape(())
    fill = torch.from_numpy(value.copy())

    def run(shape):
        return fill.to(shape.device).expand(to_ints(shape)).clone()

    return Op("ConstantOfShape", run)


@register("Range", 11)
def convert_range(node):
    """start + i * delta for i in [0, max(ceil((limit - start) / delta), 0)), the count taken in float64."""

    def run(start, limit, delta):
        n = max(math.ceil((limit.item() - start.item()) / delta.item()), 0)
        return start + delta * torch.arange(n, dtype=start.dtype, device=start.device)

    return Op("Range", run)


@register("Expand", 8)
def convert_expand(node):
    def run(x, shape):
        target = to_ints(shape)
        rank = max(len(target), x.dim())
        target = [1] * (rank - len(target)) + target
        current = [1] * (rank - x.dim()) + list(x.shape)
        return x.reshape(current).expand([max(t, c) if t == 1 or c == 1 else t for t, c in zip(target, current)])

    return Op("Expand", run)


@register("Tile", 6)
def convert_tile(node):
    """Repeat x repeats[i] times along each axis i."""
    return Op("Tile", lambda x, repeats: x.repeat(to_ints(repeats)))


@register("Split", 1)
def convert_split(node):
    axis = node.attr("axis", 0)
    parts = len(node.outputs)

    def run(x, split=None):
        sizes = node.attr("split") if split is None else to_ints(split)
        if sizes is None:
            step = -(-x.shape[axis] // parts)
            sizes = [min(step, x.shape[axis] - i * step) for i in range(parts)]
        return tuple(torch.split(x, list(sizes), dim=axis))

    return Op("Split", run)


@register("CastLike", 15)
def convert_cast_like(node):
    return Op("CastLike", lambda x, like: x.to(like.dtype))
