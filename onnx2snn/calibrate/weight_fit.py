"""Weight calibration: refit the Conv or Gemm in front of an IF layer to the spike rates it really receives.

After conversion, a weight layer deep in the SNN no longer receives the ANN's activations a but the upstream IF
layers' rate codes r_T = (spikes summed over steps 1..T) / T, which carry rounding and clipping errors that the
weights, trained on a, do not expect. Here the layer's weights W and bias b are refitted, in closed form, so
that its mean output current after T steps, W' r_T + b', follows the ANN's pre-activation y = W a + b on
calibration inputs (Li et al., ICML 2021, calibrate weights by gradient descent for the same purpose):

    (W', b') = argmin  sum over T of w_T ||W' r_T + b' - y||^2  +  lam ||(W', b') - (W, b)||^2,

a ridge regression towards the trained weights, solved per output channel from one Gram matrix. Each T counts
by its relative error (w_T = 1 / the error with the trained weights at that T, as in onnx2snn.calibrate.layerwise), so a
T at which r_T is already close to a (T = 32) weighs as much as T = 1 and holds W' near W. The T are those that
layer-wise calibration fits, thinned to steps of about an octave (``octaves``). Rows are sampled
(sample, position) pairs of the layer's input patches, at most WEIGHT_FIT_ROWS, and the Gram matrices of the T
are held only while they fit in WEIGHT_FIT_GRAM_MEMORY (else summed in a second pass), so memory does not grow
with the input size. A layer with fewer than WEIGHT_FIT_ROWS_PER_FEATURE rows per weight of an output keeps its
weights: a Gemm's rows are only the calibration samples, and a regression on about as many rows as weights fits
their noise. Each group of a grouped (depthwise) convolution is its own regression. Gemm with a transposed input
or scaled terms and convolutions with automatic SAME pads are left as they are.
"""

import numpy as np
import torch
import torch.nn.functional as F

from ..defaults import (WEIGHT_FIT_GRAM_MEMORY, WEIGHT_FIT_RIDGE, WEIGHT_FIT_ROWS, WEIGHT_FIT_ROWS_PER_FEATURE,
                        WEIGHT_FIT_SPACING)


class ConvGeometry:
    """Kernel, strides, dilations and pads of a 2-D Conv (or a Gemm as a 1x1 'convolution' of a vector)."""

    def __init__(self, kernel, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1):
        self.kernel, self.strides, self.dilations, self.pads = tuple(kernel), tuple(strides), tuple(dilations), pads
        self.groups = groups

    @classmethod
    def of(cls, node, weight):
        """The geometry of the ONNX Conv or Gemm ``node`` (a NodeProto), or None where the fit does not apply."""
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "Gemm":
            plain = all(attrs[name].i == 0 for name in ("transA",) if name in attrs) and all(
                attrs[name].f == 1.0 for name in ("alpha", "beta") if name in attrs)
            return cls(()) if plain and weight.ndim == 2 else None
        if weight.ndim != 4 or ("auto_pad" in attrs and attrs["auto_pad"].s.decode() not in ("NOTSET", "VALID")):
            return None
        pads = tuple(attrs["pads"].ints) if "pads" in attrs else (0, 0, 0, 0)
        return cls(weight.shape[2:], tuple(attrs["strides"].ints) if "strides" in attrs else (1, 1),
                   tuple(attrs["dilations"].ints) if "dilations" in attrs else (1, 1), pads,
                   attrs["group"].i if "group" in attrs else 1)

    def patches(self, x, rows):
        """The input patches (len(rows), groups, kh * kw * C / groups) of ``x`` (N, C, H, W) at the output
        positions ``rows`` (sample, out_y, out_x), ordered as ``features`` orders a weight; for a Gemm, x (N, F) at
        rows[:, 0] as (len(rows), 1, F)."""
        if not self.kernel:
            return x[rows[:, 0]][:, None]
        top, left, bottom, right = self.pads
        padded = F.pad(x, (left, right, top, bottom)).permute(0, 2, 3, 1).contiguous()  # channels last
        height, width = padded.shape[1:3]
        corner = (rows[:, 0] * height + rows[:, 1] * self.strides[0]) * width + rows[:, 2] * self.strides[1]
        offsets = torch.tensor([i * self.dilations[0] * width + j * self.dilations[1]
                                for i in range(self.kernel[0]) for j in range(self.kernel[1])])
        index = (corner[:, None] + offsets[None]).reshape(-1).to(x.device)
        gathered = padded.reshape(-1, x.shape[1]).index_select(0, index)  # (rows * kh * kw, C)
        gathered = gathered.reshape(len(rows), len(offsets), self.groups, -1).transpose(1, 2)
        return gathered.reshape(len(rows), self.groups, -1)

    def features(self, weight):
        """A weight (C_out, C / groups, kh, kw), or a Gemm's (C_out, F), as (groups, C_out / groups, features) in
        the order of ``patches``."""
        if not self.kernel:
            return weight[None]
        out_channels = weight.shape[0]
        return weight.reshape(self.groups, out_channels // self.groups, weight.shape[1], -1).transpose(2, 3).reshape(
            self.groups, out_channels // self.groups, -1)

    def weight(self, features, shape):
        """The inverse of ``features``: the weight of ``shape`` from (groups, C_out / groups, features)."""
        if not self.kernel:
            return features.reshape(shape)
        grouped = features.reshape(self.groups, shape[0] // self.groups, shape[2] * shape[3], shape[1])
        # contiguous: the transposed view is a channels-last weight, whose convolutions give channels-last outputs
        # that every IF layer and row sample after it would copy back
        return grouped.transpose(2, 3).reshape(shape).contiguous()

    def output_rows(self, output_shape, count, generator):
        """Up to ``count`` (sample, out_y, out_x) positions drawn without replacement from an output shaped
        (N, C_out, H', W') (a Gemm's (N, C_out): every sample)."""
        if not self.kernel:
            return torch.arange(output_shape[0])[:, None]
        samples, height, width = output_shape[0], output_shape[2], output_shape[3]
        flat = torch.randperm(samples * height * width, generator=generator)[:count]
        return torch.stack([flat // (height * width), flat // width % height, flat % width], dim=1)


def octaves(timesteps, spacing=None):
    """The T of the sorted ``timesteps`` that the refit fits: the first and the last, and each other T unless the
    T after it is within a factor ``spacing`` (default WEIGHT_FIT_SPACING) of the last one kept (T = 1..32 of
    defaults.LAYERWISE_TIMESTEPS with 2: 1, 2, 4, 8, 16, 32). A T between two close others has rate codes close to
    theirs and adds little to the Gram sum, whose products are most of the refit's cost."""
    spacing = spacing or WEIGHT_FIT_SPACING
    kept = list(timesteps[:1])
    for t, following in zip(timesteps[1:], (*timesteps[2:], None)):
        if following is None or following > spacing * kept[-1]:
            kept.append(t)
    return tuple(kept)


def fit_weights(rates, target, weight, bias, geometry, generator):
    """(W', b') for one weight layer: ``rates()`` iterates over the layer's input rate codes r_T, (N, C, H, W) or
    (N, F), one per fitted T (called a second time only where the Gram matrices of every T would take more than
    WEIGHT_FIT_GRAM_MEMORY); ``target`` the ANN's output of the layer (N, C_out, ...); ``weight`` and ``bias`` its
    trained values (torch, a Gemm's weight as (C_out, F)). Each group of a grouped convolution is its own
    regression. None where there are fewer than WEIGHT_FIT_ROWS_PER_FEATURE rows per weight of an output, or where
    the trained weights have no error at any T."""
    groups = geometry.groups
    flat_w = torch.cat([geometry.features(weight), bias.reshape(groups, -1, 1)], dim=2)  # (groups, outputs, features)
    features = flat_w.shape[2]
    rows = geometry.output_rows(target.shape, WEIGHT_FIT_ROWS, generator)
    if len(rows) < WEIGHT_FIT_ROWS_PER_FEATURE * features:
        return None
    y = target[rows[:, 0], :, rows[:, 1], rows[:, 2]] if geometry.kernel else target[rows[:, 0]]
    y = y.reshape(len(rows), groups, -1).transpose(0, 1)  # (groups, rows, outputs per group)
    x = torch.ones(groups, len(rows), features, device=weight.device)  # the last feature multiplies the bias

    def load(rate):
        x[:, :, :-1] = geometry.patches(rate, rows).transpose(0, 1)
        return x

    def products(inputs):
        return (inputs.transpose(1, 2) @ inputs).double(), (inputs.transpose(1, 2) @ y).double()

    errors, kept = [], []
    for rate in rates():
        errors.append(float((load(rate) @ flat_w.transpose(1, 2) - y).square().sum()))
        if kept is not None:
            kept.append(products(x))
            if len(kept) * groups * features * (features + y.shape[2]) * 8 > WEIGHT_FIT_GRAM_MEMORY:
                kept = None  # the Gram matrices of every T would not fit: a second pass sums them instead
    reference = np.asarray(errors)
    if not reference.max() > 0:  # the trained weights are exact at every T: nothing to correct
        return None
    weights = 1.0 / np.maximum(reference, reference.max() * 1e-9)
    weights /= weights.sum()
    gram = cross = 0.0
    for w, (step_gram, step_cross) in zip(weights, kept if kept is not None else map(products, map(load, rates()))):
        gram = gram + w * step_gram
        cross = cross + w * step_cross
    ridge = WEIGHT_FIT_RIDGE * torch.diagonal(gram, dim1=1, dim2=2).mean(1)[:, None, None]
    eye = torch.eye(features, dtype=gram.dtype, device=gram.device)
    solved = torch.linalg.solve(gram + ridge * eye, cross + ridge * flat_w.double().transpose(1, 2))
    solved = solved.transpose(1, 2).float()  # (groups, outputs per group, features)
    return geometry.weight(solved[:, :, :-1], weight.shape), solved[:, :, -1].reshape(-1)
