"""Reference ANNs (PyTorch) whose ONNX exports the converter and its tests use.

Every activation is either ``nn.ReLU`` (``act="relu"``) or :class:`TrainableClip` (``act="clip"``),
one module per site, so that each exported activation is its own ONNX node.
"""

import torch
from torch import nn

ACTS = ("relu", "clip")


class TrainableClip(nn.Module):
    """Trained-threshold ReLU ``y = clip(x, 0, λ)`` with a learnable scalar ``λ = threshold``.

    Exports (TorchScript exporter, opset 13) as one ``Clip(x, min, max)`` node whose ``min`` comes from a
    ``Constant`` node (0) and whose ``max`` is a scalar initializer holding λ.
    Train it with an L2 penalty on λ (:func:`threshold_penalty`) so that λ does not grow without bound.

    ``levels = L`` (default None: off) makes it the QCFS quantized clip of Bu et al. (ICLR 2022),
    ``y = λ·clip(floor(x·L/λ + 1/2)/L, 0, 1)``, computed as ``λ·floor(clip(x/λ, 0, 1)·L + 1/2)/L`` with a
    straight-through gradient for the floor (so dy/dx = 1 on (0, λ), also where y = 0): train with it
    so that an IF neuron with threshold λ and initial potential λ/2 matches the ANN after few steps, then
    set it back to None to export the plain clip.
    """

    def __init__(self, init=2.0):
        super().__init__()
        self.threshold = nn.Parameter(torch.tensor(float(init)))
        self.register_buffer("zero", torch.zeros(()), persistent=False)
        self.levels = None

    def forward(self, x):
        if self.levels is None:
            return torch.clamp(x, self.zero, self.threshold)
        z = torch.clamp(x / self.threshold, 0.0, 1.0) * self.levels + 0.5
        z = z + (torch.floor(z) - z).detach()  # floor forward, identity backward
        return self.threshold * (z / self.levels)

    def extra_repr(self):
        return f"threshold={self.threshold.item():.4g}"


def activation(act):
    """A fresh activation module for ``act`` in ``ACTS``."""
    if act == "relu":
        return nn.ReLU()
    if act == "clip":
        return TrainableClip()
    raise ValueError(f"act must be one of {ACTS}, got {act!r}")


def set_levels(model, levels):
    """Set ``levels`` (an int, or None for the plain clip) on every :class:`TrainableClip` of ``model``."""
    for m in model.modules():
        if isinstance(m, TrainableClip):
            m.levels = levels


def fold_batchnorm(model):
    """Fold each BatchNorm2d of the ``nn.Sequential`` ``model`` into the Conv2d just before it, in place.

    The conv gets the eval-mode BatchNorm's scale in its weight and its shift in its bias; the BatchNorm
    becomes ``nn.Identity``. The model computes what it computed in eval mode and exports to the same graph.
    """
    layers = list(model)
    with torch.no_grad():
        for i, (conv, bn) in enumerate(zip(layers, layers[1:])):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                bias = bn.bias - bn.running_mean * scale
                if conv.bias is not None:
                    bias = bias + conv.bias * scale
                conv.weight = nn.Parameter(conv.weight * scale[:, None, None, None])
                conv.bias = nn.Parameter(bias)
                model[i + 1] = nn.Identity()
    return model


def threshold_penalty(model):
    """Sum of λ² over the model's :class:`TrainableClip` modules (0 when there are none)."""
    return sum((m.threshold**2 for m in model.modules() if isinstance(m, TrainableClip)), torch.zeros(()))


def _pool(pool):
    if pool == "avg":
        return nn.AvgPool2d(2)
    if pool == "max":
        return nn.MaxPool2d(2)
    raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")


def _conv_bn(c_in, c_out, stride=1, kernel=3):
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out)]


class MnistCNN(nn.Sequential):
    """VGG-style CNN for (N, 1, 28, 28) inputs, 10 classes (the exporter folds each BatchNorm into its conv).

    conv3x3(1→16)-BN-act-conv3x3(16→32)-BN-act-pool2-conv3x3(32→64)-BN-act-pool2-fc(3136→64)-act-fc(64→10)
    """

    def __init__(self, act="relu", pool="avg"):
        super().__init__(
            *_conv_bn(1, 16), activation(act),
            *_conv_bn(16, 32), activation(act), _pool(pool),
            *_conv_bn(32, 64), activation(act), _pool(pool),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 64), activation(act),
            nn.Linear(64, 10),
        )


class DigitsMLP(nn.Sequential):
    """MLP for scikit-learn digits: (N, 64) → 64 → 32 → 10, ReLU."""

    def __init__(self):
        super().__init__(
            nn.Linear(64, 64), nn.ReLU(),
            nn.Linear(64, 32), nn.ReLU(),
            nn.Linear(32, 10),
        )


VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def vgg16(num_classes=10, act="relu"):
    """CIFAR VGG-16: 13 conv3x3-BN-act layers in 5 stages, each closed by AvgPool2d(2), then
    fc(512→4096)-act-dropout-fc(4096→4096)-act-dropout-fc(4096→num_classes)."""
    layers, c_in = [], 3
    for stage in VGG16_STAGES:
        for c_out in stage:
            layers += [*_conv_bn(c_in, c_out), activation(act)]
            c_in = c_out
        layers.append(nn.AvgPool2d(2))
    layers += [
        nn.Flatten(),
        nn.Linear(512, 4096), activation(act), nn.Dropout(0.5),
        nn.Linear(4096, 4096), activation(act), nn.Dropout(0.5),
        nn.Linear(4096, num_classes),
    ]
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """act(BN(conv(act(BN(conv(x))))) + shortcut(x)); the shortcut is a 1x1 conv + BN when shapes change."""

    def __init__(self, c_in, c_out, stride, act):
        super().__init__()
        self.residual = nn.Sequential(
            *_conv_bn(c_in, c_out, stride), activation(act), *_conv_bn(c_out, c_out)
        )
        changes = stride != 1 or c_in != c_out
        self.shortcut = nn.Sequential(*_conv_bn(c_in, c_out, stride, kernel=1)) if changes else nn.Identity()
        self.act = activation(act)

    def forward(self, x):
        return self.act(self.residual(x) + self.shortcut(x))


class CifarResNet(nn.Module):
    """conv3x3-BN-act stem (stride 1) on ``in_channels`` (RGB by default), BasicBlock stages (the first
    keeps the resolution, the others halve it), global average pooling, fc."""

    def __init__(self, widths, blocks, num_classes=10, act="relu", in_channels=3):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_channels, widths[0]), activation(act))
        stages, c_in = [], widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stages.append(BasicBlock(c_in, width, 2 if i > 0 and j == 0 else 1, act))
                c_in = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


def resnet20(num_classes=10, act="relu"):
    """CIFAR ResNet-20 (He et al. 2016, with 1x1 projection shortcuts): widths 16/32/64, 3 blocks per stage."""
    return CifarResNet((16, 32, 64), (3, 3, 3), num_classes, act)


def resnet18(num_classes=10, act="relu"):
    """CIFAR ResNet-18: widths 64/128/256/512, 2 blocks per stage, no stem max pooling."""
    return CifarResNet((64, 128, 256, 512), (2, 2, 2, 2), num_classes, act)


CIFAR_ARCHS = {"vgg16": vgg16, "resnet20": resnet20, "resnet18": resnet18}
