"""Weight calibration: refit the Conv or Gemm in front of an IF layer to the spike rates it really receives.

After conversion, a weight layer deep in the SNN no longer receives the ANN's activations a but the upstream IF
layers' rate codes r_T = (spikes summed over steps 1..T) / T, which carry rounding and clipping errors that the
weights, trained on a, do not expect. Here the layer's weights W and bias b are refitted, in closed form, so
that its mean output current after T steps, W' r_T + b', follows the ANN's pre-activation y = W a + b on
calibration inputs (Li et al., ICML 2021, calibrate weights by gradient descent for the same purpose):

    (W', b') = argmin  sum over T of w_T ||W' r_T + b' - y||^2  +  lam ||(W', b') - (W, b)||^2,

a ridge regression towards the trained weights, solved per output channel from one Gram matrix. Each T counts
by its relative error (w_T = 1 / the error with the trained weights at that T, as in onnx2snn.layerwise), so a
T at which r_T is already close to a (T = 64) weighs as much as T = 1 and holds W' near W. Rows are sampled
(sample, position) pairs of the layer's input patches, at most WEIGHT_FIT_ROWS, and one Gram matrix is held at a
time, so memory does not grow with the input size; a layer with fewer than WEIGHT_FIT_ROWS_PER_FEATURE rows per
weight of an output keeps its weights (a Gemm's rows are only the calibration samples, and a regression on
about as many rows as weights fits their noise). Each group of a grouped (depthwise) convolution is its own
regression. Gemm with a transposed input or scaled terms and convolutions with automatic SAME pads are left as
they are.
"""

import numpy as np
import torch
import torch.nn.functional as F

from .defaults import WEIGHT_FIT_RIDGE, WEIGHT_FIT_ROWS, WEIGHT_FIT_ROWS_PER_FEATURE


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
        """The input patches (len(rows), C * kh * kw) of ``x`` (N, C, H, W) at the output positions ``rows``
        (sample, out_y, out_x), in the weight's (C, kh, kw) order; for a Gemm, x (N, F) at rows[:, 0]."""
        if not self.kernel:
            return x[rows[:, 0]]
        top, left, bottom, right = self.pads
        padded = F.pad(x, (left, right, top, bottom)).permute(0, 2, 3, 1).contiguous()  # channels last: rows gather
        n, y, z = rows[:, 0], rows[:, 1] * self.strides[0], rows[:, 2] * self.strides[1]
        parts = torch.empty(len(rows), x.shape[1], self.kernel[0], self.kernel[1], dtype=x.dtype, device=x.device)
        for i in range(self.kernel[0]):
            for j in range(self.kernel[1]):
                parts[:, :, i, j] = padded[n, y + i * self.dilations[0], z + j * self.dilations[1]]
        return parts.reshape(len(rows), -1)

    def output_rows(self, output_shape, count, generator):
        """Up to ``count`` (sample, out_y, out_x) positions drawn without replacement from an output shaped
        (N, C_out, H', W') (a Gemm's (N, C_out): every sample)."""
        if not self.kernel:
            return torch.arange(output_shape[0])[:, None]
        samples, height, width = output_shape[0], output_shape[2], output_shape[3]
        flat = torch.randperm(samples * height * width, generator=generator)[:count]
        return torch.stack([flat // (height * width), flat // width % height, flat % width], dim=1)


def fit_weights(rates, target, weight, bias, geometry, generator):
    """(W', b') for one weight layer: ``rates()`` iterates over the layer's input rate codes r_T, (N, C, H, W) or
    (N, F), one per fitted T (called twice: once for each T's error with the trained weights, once for the
    weighted Gram matrix, so that one Gram matrix is held at a time); ``target`` the ANN's output of the layer
    (N, C_out, ...); ``weight`` and ``bias`` its trained values (torch, a Gemm's weight as (C_out, F)). Each group
    of a grouped convolution is its own regression. None where there are fewer than WEIGHT_FIT_ROWS_PER_FEATURE
    rows per weight of an output."""
    groups = geometry.groups
    out_channels = weight.shape[0]
    flat_w = torch.cat([weight.reshape(groups, out_channels // groups, -1),
                        bias.reshape(groups, -1, 1)], dim=2)  # (groups, outputs per group, features)
    features = flat_w.shape[2]
    rows = geometry.output_rows(target.shape, WEIGHT_FIT_ROWS, generator)
    if len(rows) < WEIGHT_FIT_ROWS_PER_FEATURE * features:
        return None
    y = target[rows[:, 0], :, rows[:, 1], rows[:, 2]] if geometry.kernel else target[rows[:, 0]]
    y = y.reshape(len(rows), groups, -1).transpose(0, 1)  # (groups, rows, outputs per group)
    x = torch.ones(groups, len(rows), features, device=weight.device)  # the last feature multiplies the bias

    def patches(rate):
        x[:, :, :-1] = geometry.patches(rate, rows).reshape(len(rows), groups, -1).transpose(0, 1)
        return x

    reference = np.asarray([float((patches(r) @ flat_w.transpose(1, 2) - y).square().sum()) for r in rates()])
    weights = 1.0 / np.maximum(reference, reference.max() * 1e-9 + np.finfo(np.float64).tiny)
    weights /= weights.sum()
    gram = cross = 0.0
    for w, rate in zip(weights, rates()):
        patches(rate)
        gram = gram + w * (x.transpose(1, 2) @ x).double()
        cross = cross + w * (x.transpose(1, 2) @ y).double()
    ridge = WEIGHT_FIT_RIDGE * torch.diagonal(gram, dim1=1, dim2=2).mean(1)[:, None, None]
    eye = torch.eye(features, dtype=gram.dtype, device=gram.device)
    solved = torch.linalg.solve(gram + ridge * eye, cross + ridge * flat_w.double().transpose(1, 2))
    solved = solved.transpose(1, 2).reshape(out_channels, features).float()
    return solved[:, :-1].reshape(weight.shape), solved[:, -1]
