"""The zoo: small reference ANNs that each vary one axis of the conversion problem, split in two halves.

The ``dev`` half is for developing the converter, the ``heldout`` half for measuring it without having
tuned on it. :data:`ZOO` maps each name to its :class:`ZooNet` (architecture and training recipe);
``models/train_zoo.py`` trains them and writes ``models/zoo/<name>.onnx`` and ``models/zoo/zoo.json``.
Every PyTorch definition lists its Conv/Linear modules in the order its forward pass runs them, so that
``benchmarks/peers/spikingjelly_ann2snn.load_onnx_weights`` can load an exported file back by position.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.architectures import BasicBlock, CifarResNet, TrainableClip, _conv_bn, activation
from models.train_mnist import QCFS, Spec

ZOO_DIR = Path(__file__).resolve().parent / "zoo"
HALVES = ("dev", "heldout")


@dataclass(frozen=True, kw_only=True)
class ZooNet(Spec):
    """A :class:`~models.train_mnist.Spec` (``build`` None: the scikit-learn MLP) with the zoo's fields.

    ``half``: 'dev' or 'heldout'; ``seed``: of initialization, batch order and augmentation;
    ``hidden``: hidden-layer sizes of the scikit-learn MLP; ``description``: the axis the net varies.
    """

    half: str
    seed: int
    description: str
    hidden: tuple = ()


def _conv_stack(channels, unit, pool):
    """The layers ``unit(c_in, c_out)`` for each entry of ``channels`` (None: a 2x2 ``pool``) on one input
    channel, and the last width."""
    layers, c_in = [], 1
    for c_out in channels:
        if c_out is None:
            layers.append(pool(2))
            continue
        layers += unit(c_in, c_out)
        c_in = c_out
    return layers, c_in


def vgg5(width=16, act="relu", pool=nn.AvgPool2d):
    """conv3x3-BN-act x5 with channels w, w | pool | 2w, 2w | pool | 2w, then fc(2w·7·7→64)-act-fc(64→10);
    ``pool`` a 2x2 pooling module class."""
    layers, c = _conv_stack((width, width, None, 2 * width, 2 * width, None, 2 * width),
                            lambda c_in, c_out: [*_conv_bn(c_in, c_out), activation(act)], pool)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 7 * 7, 64), activation(act), nn.Linear(64, 10))


def vgg6_bn_after():
    """6 conv3x3-ReLU-BN layers (BN after the activation), 24, 24 | avg pool | 24, 48 | avg pool | 48, 48,
    then fc(48·7·7→10)."""
    layers, c = _conv_stack((24, 24, None, 24, 48, None, 48, 48),
                            lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                                                 nn.BatchNorm2d(c_out)], nn.AvgPool2d)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 7 * 7, 10))


def narrow_cnn8():
    """8 conv3x3-BN-ReLU layers, 12, 12 | avg pool | 12 x3 | avg pool | 24 x3, then fc(24·7·7→10)."""
    layers, c = _conv_stack((12, 12, None, 12, 12, 12, None, 24, 24, 24),
                            lambda c_in, c_out: [*_conv_bn(c_in, c_out), nn.ReLU()], nn.AvgPool2d)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 7 * 7, 10))


def vgg7_bn_after():
    """7 conv3x3-ReLU-BN layers (BN after the activation, so it cannot fold into the conv before it),
    16, 16 | max pool | 32, 32, 32 | max pool | 32, 32, then fc(32·7·7→10)."""
    layers, c = _conv_stack((16, 16, None, 32, 32, 32, None, 32, 32),
                            lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                                                 nn.BatchNorm2d(c_out)], nn.MaxPool2d)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 7 * 7, 10))


def narrow_cnn10():
    """10 conv3x3-BN-ReLU layers, 8, 8, 8 | avg pool | 16 x3 | avg pool | 16 x4, then fc(16·7·7→10)."""
    layers, c = _conv_stack((8, 8, 8, None, 16, 16, 16, None, 16, 16, 16, 16),
                            lambda c_in, c_out: [*_conv_bn(c_in, c_out), nn.ReLU()], nn.AvgPool2d)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 7 * 7, 10))


def qcfs_cnn():
    """conv3x3-BN-clip 16 | avg pool | 32, 32 | avg pool | 32, then fc(32·7·7→64)-clip-fc(64→10), every
    activation a TrainableClip (trained with QCFS, see models.train_mnist.QCFS)."""
    return nn.Sequential(
        *_conv_bn(1, 16), TrainableClip(), nn.AvgPool2d(2),
        *_conv_bn(16, 32), TrainableClip(),
        *_conv_bn(32, 32), TrainableClip(), nn.AvgPool2d(2),
        *_conv_bn(32, 32), TrainableClip(),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), TrainableClip(), nn.Linear(64, 10),
    )


def mnist_resnet(blocks, act="relu", hidden=None):
    """CifarResNet on (N, 1, 28, 28): widths 16/32/64, ``blocks`` BasicBlocks per stage; with ``hidden``,
    the head is GAP-fc(64→hidden)-act-fc(hidden→10) instead of GAP-fc(64→10)."""
    model = CifarResNet((16, 32, 64), blocks, 10, act, in_channels=1)
    if hidden:
        model.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, hidden), activation(act),
                                   nn.Linear(hidden, 10))
    return model


class DenseLayer(nn.Module):
    """x → cat(x, ReLU(BN(conv3x3(x)))): appends ``growth`` channels."""

    def __init__(self, c_in, growth):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(c_in, growth), nn.ReLU())

    def forward(self, x):
        return torch.cat([x, self.body(x)], dim=1)


def dense7(growth=12, layers=3):
    """DenseNet-style: stem conv3x3(1→16)-BN-ReLU + avg pool (14x14), dense block of ``layers``
    DenseLayers, transition conv1x1-BN-ReLU (→32) + avg pool (7x7), a second dense block, GAP, fc."""
    stem = [*_conv_bn(1, 16), nn.ReLU(), nn.AvgPool2d(2)]
    block1 = [DenseLayer(16 + i * growth, growth) for i in range(layers)]
    c_mid = 16 + layers * growth
    transition = [*_conv_bn(c_mid, 32, kernel=1), nn.ReLU(), nn.AvgPool2d(2)]
    block2 = [DenseLayer(32 + i * growth, growth) for i in range(layers)]
    c_out = 32 + layers * growth
    return nn.Sequential(*stem, *block1, *transition, *block2, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c_out, 10))


def separable(c_in, c_out, stride):
    """Depthwise conv3x3 (groups=c_in)-BN-ReLU6, then pointwise conv1x1-BN-ReLU6."""
    return [nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU6(),
            *_conv_bn(c_in, c_out, kernel=1), nn.ReLU6()]


def mobile_relu6():
    """MobileNet-style: stem conv3x3(1→16)-BN-ReLU6, 4 depthwise separable blocks (32, 64/2, 64, 128/2),
    GAP, fc: 9 ReLU6 sites."""
    blocks = ((16, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2))
    layers = [*_conv_bn(1, 16), nn.ReLU6()]
    for c_in, c_out, stride in blocks:
        layers += separable(c_in, c_out, stride)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def digits_mlp5():
    """MLP on digits (N, 64): 5 hidden ReLU layers 128-128-64-64-32, then 10 classes."""
    sizes, layers = (64, 128, 128, 64, 64, 32), []
    for c_in, c_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(c_in, c_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], 10))


def _mnist(half, build, description, seed=0, epochs=12, lr=2e-3, qcfs=None):
    return ZooNet(dataset="mnist5k", build=build, epochs=epochs, lr=lr, batch_size=64, shift=2, qcfs=qcfs,
                  half=half, seed=seed, description=description)


ZOO = {
    "vgg5_avg": _mnist("dev", vgg5, "baseline: plain VGG, BN before ReLU (folds), average pooling"),
    "resnet13": _mnist("dev", lambda: mnist_resnet((2, 2, 2)), "residual Add with 1x1 projection shortcuts", epochs=10),
    "clip_vgg5": _mnist("dev", lambda: vgg5(act="clip"), "trained clip bounds (no quantization) as thresholds"),
    "dense7": _mnist("dev", dense7, "channel concatenation (Concat) of earlier layers' outputs"),
    "mobile_relu6": _mnist("dev", mobile_relu6, "depthwise convolutions and a fixed ReLU6 bound"),
    "vgg5_wide_s0": _mnist("dev", lambda: vgg5(width=32), "width: vgg5 with twice the channels (seed 0)", epochs=10),
    "vgg5_max": _mnist("dev", lambda: vgg5(pool=nn.MaxPool2d), "max pooling in a plain VGG", seed=2),
    "vgg6_bnafter_avg": _mnist("dev", vgg6_bn_after, "BN after ReLU (does not fold), average pooling", seed=3),
    "narrow_cnn8": _mnist("dev", narrow_cnn8, "depth without residuals at 12-24 channels", seed=4),
    "digits_mlp5": ZooNet(dataset="digits", build=digits_mlp5, epochs=60, lr=2e-3, batch_size=32, shift=0,
                          half="dev", seed=0, description="depth in an MLP: 5 hidden ReLU layers"),
    "vgg7_bnafter_max": _mnist("heldout", vgg7_bn_after, "BN after ReLU (does not fold) and max pooling"),
    "resnet20": _mnist("heldout", lambda: mnist_resnet((3, 3, 3), hidden=32), "deeper residual net, fc-ReLU head",
                       epochs=10),
    "clip_resnet13": _mnist("heldout", lambda: mnist_resnet((2, 2, 2), act="clip"),
                            "trained clip bounds in a residual net", epochs=10),
    "qcfs_cnn": _mnist("heldout", qcfs_cnn, "QCFS-trained (quantized clip) CNN",
                       qcfs=QCFS(levels=(2, 4, 8), finetune_levels=(2, 4, 8, None), finetune_epochs=3,
                                 finetune_lr=2e-4)),
    "narrow_cnn10": _mnist("heldout", narrow_cnn10, "depth without residuals at 8-16 channels"),
    "vgg5_wide_s1": _mnist("heldout", lambda: vgg5(width=32), "seed: vgg5_wide_s0 trained from seed 1", seed=1,
                           epochs=10),
    "sklearn_mlp3": ZooNet(dataset="digits", build=None, epochs=0, lr=0.0, batch_size=0, shift=0, half="heldout",
                           seed=0, hidden=(128, 64, 32),
                           description="another framework: scikit-learn MLPClassifier via skl2onnx"),
}


def zoo_names(half=None):
    """Names of the zoo's nets, in registry order; only those of ``half`` ('dev' or 'heldout') when given."""
    if half is not None and half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}")
    return [name for name, net in ZOO.items() if half is None or net.half == half]


def zoo_path(name):
    """models/zoo/<name>.onnx."""
    return ZOO_DIR / f"{name}.onnx"
