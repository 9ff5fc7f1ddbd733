"""ONNX tensors as sums of NIR node outputs with per-channel scales (used by :mod:`nir_graph`).

NIR spikes are 0/1 while onnx2snn's spikes carry the value theta, and NIR sums the edges that enter a
node. So one per-sample ONNX tensor x (channels first) is a list of parts::

    x[offset + c] += scale[c] * nir_output_of(part.node)[c]      for each part, 0 <= c < part.channels

An IF layer's output is one part with scale theta; Add joins the parts of its inputs; Concat shifts them.
Linear layers fold the scale of a single full part into their weights; elsewhere :meth:`Builder.gather`
adds 1x1 Conv (or Affine) nodes that bring each part to the scale the consumer needs and place it in its
channels.
"""

from collections import Counter
from dataclasses import dataclass

import nir
import numpy as np


@dataclass(frozen=True)
class Part:
    node: str
    scale: np.ndarray  # (channels,) float64
    offset: int
    channels: int


@dataclass
class Value:
    shape: tuple  # per sample, channels first
    parts: list

    def full_part(self):
        """The part when there is exactly one and it covers every channel, else None."""
        if len(self.parts) == 1 and self.parts[0].offset == 0 and self.parts[0].channels == self.shape[0]:
            return self.parts[0]
        return None


def per_channel(values, channels):
    """``values`` (one, or one per channel) as a float64 array of shape (channels,)."""
    return np.broadcast_to(np.asarray(values, np.float64).reshape(-1), (channels,)).copy()


def conv_node(weight, bias, shape, stride, padding, dilation, groups, metadata):
    """nir.Conv1d or nir.Conv2d (by the rank of ``shape`` = (C, *spatial)) with float32 parameters.

    A grouped convolution is written as the equivalent dense one (zero blocks off the diagonal): NIR 1.0's
    Conv nodes take their input channels from weight.shape[1] whatever the groups."""
    if groups > 1:
        cout, cin_group = weight.shape[:2]
        per_group = cout // groups
        dense = np.zeros((cout, cin_group * groups, *weight.shape[2:]))
        for g in range(groups):
            rows = slice(g * per_group, (g + 1) * per_group)
            dense[rows, g * cin_group:(g + 1) * cin_group] = weight[rows]
        weight = dense
    args = dict(weight=np.asarray(weight, np.float32), bias=np.asarray(bias, np.float32), groups=1,
                metadata=metadata)
    if len(shape) == 2:
        return nir.Conv1d(input_shape=int(shape[1]), stride=int(stride[0]), padding=int(padding[0]),
                          dilation=int(dilation[0]), **args)
    return nir.Conv2d(input_shape=tuple(int(s) for s in shape[1:]), stride=tuple(int(s) for s in stride),
                      padding=tuple(int(p) for p in padding), dilation=tuple(int(d) for d in dilation), **args)


def channel_map(factors, rows, offset, shape, metadata, bias=None):
    """A node that writes factors[c] * x[c] (+ bias) to channel offset + c of ``rows`` output channels;
    x has per-sample ``shape`` (channels first). A 1x1 Conv, or an Affine for flat tensors."""
    channels = len(factors)
    spatial = len(shape) - 1
    matrix = np.zeros((rows, channels))
    matrix[offset + np.arange(channels), np.arange(channels)] = factors
    bias = np.zeros(rows) if bias is None else bias
    if spatial == 0:
        return nir.Affine(weight=matrix.astype(np.float32), bias=np.asarray(bias, np.float32), metadata=metadata)
    ones = (1,) * spatial
    return conv_node(matrix.reshape(rows, channels, *ones), bias, shape, ones, (0,) * spatial, ones, 1, metadata)


class Builder:
    """Collects NIR nodes and edges; names nodes ``<kind>_<n>``."""

    def __init__(self):
        self.nodes = {}
        self.edges = []
        self._counts = Counter()
        self._gathered = {}

    def add(self, kind, node, sources=()):
        name = f"{kind}_{self._counts[kind]}"
        self._counts[kind] += 1
        self.nodes[name] = node
        self.edges.extend((source, name) for source in sources)
        return name

    def gather(self, value, want, onnx_node):
        """Names of nodes whose summed outputs equal ``value / want`` (``want``: one scale per channel)."""
        sources = []
        for part in value.parts:
            factors = part.scale / want[part.offset:part.offset + part.channels]
            if part.offset == 0 and part.channels == value.shape[0] and np.all(factors == 1.0):
                sources.append(part.node)
                continue
            key = (part.node, part.offset, value.shape[0], factors.tobytes())
            if key not in self._gathered:
                node = channel_map(factors, value.shape[0], part.offset, (part.channels, *value.shape[1:]),
                                   {"onnx_node": onnx_node, "role": "scale and place channels for the next node"})
                self._gathered[key] = self.add("rescale", node, [part.node])
            sources.append(self._gathered[key])
        return sources
