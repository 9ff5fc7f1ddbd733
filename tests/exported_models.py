"""Real exporter output for loader/normalizer/runtime tests.

Tiny seeded PyTorch architectures exported by the TorchScript and dynamo exporters of torch.onnx, a
scikit-learn MLP converted by skl2onnx, and (as a file fixture) a Keras CNN converted by tf2onnx.
"""

from __future__ import annotations

import functools
import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from torch import nn

SEED = 0


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class VggMaxpool(nn.Module):
    """Conv-BN-ReLU-MaxPool x2, then Flatten-Linear-ReLU-Dropout-Linear."""

    input_shape = (3, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn(3, 8), nn.ReLU(), nn.MaxPool2d(2),
            *_conv_bn(8, 16), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """ResNet basic block; a 1x1 conv + BN downsample when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(cin, cout, stride=stride), nn.ReLU(), *_conv_bn(cout, cout))
        self.shortcut = (
            nn.Sequential(*_conv_bn(cin, cout, k=1, stride=stride))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """Stem, two basic blocks (one downsampling), global average pool, Linear."""

    input_shape = (3, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 8), nn.ReLU())
        self.blocks = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class DenseNetConcat(nn.Module):
    """Dense block of two BN-ReLU-Conv layers joined by torch.cat, transition, pool, Linear."""

    input_shape = (3, 16, 16)

    def __init__(self, growth: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, growth, 3, padding=1, bias=False))
            for c in (8, 8 + growth)
        )
        self.transition = nn.Sequential(
            nn.BatchNorm2d(8 + 2 * growth), nn.ReLU(), nn.Conv2d(8 + 2 * growth, 8, 1), nn.AvgPool2d(2)
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = torch.cat([x, layer(x)], 1)
        return self.head(self.transition(x))


class InceptionConcat(nn.Module):
    """Inception module: 1x1, 3x3, 5x5 and padded 3x3-maxpool branches concatenated."""

    input_shape = (3, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 8), nn.ReLU())
        self.b1 = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU())
        self.b3 = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU())
        self.b5 = nn.Sequential(nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 5, padding=2), nn.ReLU())
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), nn.Conv2d(8, 4, 1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(18, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.head(torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, depthwise 3x3 (groups=channels), 1x1 project, ReLU6."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int = 4) -> None:
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            *_conv_bn(cin, hidden, k=1), nn.ReLU6(),
            *_conv_bn(hidden, hidden, stride=stride, groups=hidden), nn.ReLU6(),
            *_conv_bn(hidden, cout, k=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    """Strided stem, two inverted residual blocks, 1x1 conv, pool, Linear."""

    input_shape = (3, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn(3, 8, stride=2), nn.ReLU6(),
            InvertedResidual(8, 8, 1), InvertedResidual(8, 16, 2),
            *_conv_bn(16, 32, k=1), nn.ReLU6(),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Fire(nn.Module):
    """SqueezeNet fire module: squeeze 1x1, expand 1x1 and 3x3, cat."""

    def __init__(self, cin: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU())
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU())
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


class SqueezeNet(nn.Module):
    """Strided conv, ceil-mode max pools, two fire modules, 1x1 conv classifier, pool."""

    input_shape = (3, 17, 17)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(16, 4, 8), Fire(16, 4, 8), nn.MaxPool2d(3, 2, ceil_mode=True),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Conv2d(16, 10, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle with the batch size read from the tensor."""
    batch, channels, height, width = x.size(0), x.size(1), x.size(2), x.size(3)
    x = x.view(batch, groups, channels // groups, height, width).transpose(1, 2).contiguous()
    return x.view(batch, -1, height, width)


class ShuffleUnit(nn.Module):
    """Grouped 1x1 conv, channel shuffle, depthwise 3x3, grouped 1x1 conv, residual Add."""

    def __init__(self, channels: int, groups: int = 3) -> None:
        super().__init__()
        self.groups = groups
        self.reduce = nn.Sequential(*_conv_bn(channels, channels, k=1, groups=groups), nn.ReLU())
        self.depthwise = nn.Sequential(*_conv_bn(channels, channels, groups=channels))
        self.expand = nn.Sequential(*_conv_bn(channels, channels, k=1, groups=groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = channel_shuffle(self.reduce(x), self.groups)
        return F.relu(x + self.expand(self.depthwise(y)))


class ShuffleNet(nn.Module):
    """Stem, two shuffle units, pool, Linear."""

    input_shape = (3, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 12, stride=2), nn.ReLU())
        self.units = nn.Sequential(ShuffleUnit(12), ShuffleUnit(12))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.units(self.stem(x)))


class Mlp(nn.Module):
    """x.view(x.size(0), -1) on an 8x8 image, then Linear-ReLU-Linear-ReLU-Linear."""

    input_shape = (1, 8, 8)

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.view(x.size(0), -1))


class LenetLrnMisc(nn.Module):
    """A LeNet-like chain of the less common ops: LRN, AvgPool(ceil, no pad count), ConvTranspose,
    reflect/constant Pad, LeakyReLU, Sigmoid, Tanh, Softmax, broadcast Sub/Div/Mul, Transpose,
    Squeeze/Unsqueeze, GlobalMaxPool, dilated conv, asymmetric ("same", even kernel) padding.

    torch has no LRN op: both exporters write F.local_response_norm's Pow/Pad/AveragePool/Mul/Add/Pow/Div.
    """

    input_shape = (3, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1))
        self.scale = nn.Parameter(torch.rand(1, 4, 1, 1) + 0.5)
        self.conv1 = nn.Conv2d(3, 8, 3)
        self.lrn = nn.LocalResponseNorm(5)
        self.pool = nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)
        self.conv_same = nn.Conv2d(8, 8, 4, padding="same")
        self.conv_dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.deconv = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.gmp = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = F.leaky_relu(self.conv1(F.pad(x, (1, 1, 1, 1), mode="reflect")), 0.1)
        x = self.pool(self.lrn(x))
        x = torch.tanh(self.conv_same(x))
        x = F.relu(self.conv_dilated(x)).transpose(2, 3)
        x = torch.sigmoid(self.deconv(x))
        x = F.pad(x, (0, 1, 0, 1), value=0.5) * self.scale
        y = self.fc(self.gmp(x).squeeze(3).squeeze(2)).unsqueeze(1)
        return torch.softmax(y, dim=-1).squeeze(1)


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "vgg_maxpool": VggMaxpool,
    "resnet": ResNet,
    "densenet_concat": DenseNetConcat,
    "inception_concat": InceptionConcat,
    "mobilenetv2": MobileNetV2,
    "squeezenet": SqueezeNet,
    "shufflenet": ShuffleNet,
    "mlp": Mlp,
    "lenet_lrn_misc": LenetLrnMisc,
}


def build_model(name: str) -> nn.Module:
    """Seeded model in eval mode; BatchNorm gets random affine params and running stats."""
    torch.manual_seed(SEED)
    model = ARCHITECTURES[name]()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def sample_input(name: str, batch: int) -> np.ndarray:
    """Seeded float32 input in [0, 1) of shape (batch, *input_shape)."""
    rng = np.random.default_rng(SEED + batch)
    return rng.random((batch, *ARCHITECTURES[name].input_shape), dtype=np.float32)


EXPORTERS = ("torchscript", "torchscript_nofold", "dynamo", "dynamo_noopt")


def export_torch(name: str, exporter: str, opset: int) -> onnx.ModelProto:
    """Export architecture `name` with input "input", output "output" and a dynamic batch dimension.

    exporter: "torchscript" (torch.onnx.export, dynamo=False), "dynamo" (dynamo=True), or the same with
    the exporter's own clean-up switched off ("torchscript_nofold": do_constant_folding=False,
    "dynamo_noopt": optimize=False), which keeps BatchNormalization and the raw shape arithmetic.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; expected one of {EXPORTERS}")
    model = build_model(name)
    example = (torch.from_numpy(sample_input(name, 2)),)
    common = dict(input_names=["input"], output_names=["output"], opset_version=opset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter.startswith("torchscript"):
            buffer = io.BytesIO()
            torch.onnx.export(
                model, example, buffer, dynamo=False, do_constant_folding=exporter == "torchscript",
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, **common,
            )
            return onnx.load_from_string(buffer.getvalue())
        program = torch.onnx.export(
            model, example, dynamo=True, optimize=exporter == "dynamo", verbose=False,
            dynamic_shapes=({0: torch.export.Dim("batch")},), **common,
        )
        return program.model_proto


# Exports that onnxruntime runs at batch 1 and 3, measured with torch 2.13 / onnxruntime 1.32.
# TorchScript supports opsets 9-20 and accepts 21-23 with a warning (same nodes, newer stamp). At opset 9
# it emulates AveragePool ceil_mode by extra end padding, which onnxruntime rejects for lenet_lrn_misc
# ("Pad should be smaller than kernel"). Dynamo writes opset 18 at the least (asked for 13 it keeps 18),
# 20 by default; 23 is torch's declared maximum.
TORCHSCRIPT_OPSETS = (9, 13, 20, 23)
DYNAMO_OPSET = 23
NO_OPSET9 = ("lenet_lrn_misc",)
DYNAMO_NOOPT = ("resnet", "mobilenetv2", "shufflenet")

CASES: list[tuple[str, str, int]] = (
    [
        (name, "torchscript", opset)
        for opset in TORCHSCRIPT_OPSETS
        for name in ARCHITECTURES
        if not (opset == 9 and name in NO_OPSET9)
    ]
    + [(name, "torchscript_nofold", 13) for name in ARCHITECTURES]
    + [(name, "dynamo", DYNAMO_OPSET) for name in ARCHITECTURES]
    + [(name, "dynamo_noopt", DYNAMO_OPSET) for name in DYNAMO_NOOPT]
)


@functools.lru_cache(maxsize=None)
def get_case(name: str, exporter: str, opset: int) -> bytes:
    """Serialized export_torch(name, exporter, opset), memoized for the session."""
    return export_torch(name, exporter, opset).SerializeToString()


@functools.lru_cache(maxsize=None)
def sklearn_mlp_classifier() -> MLPClassifier:
    """MLPClassifier(relu, (32, 16)) trained on sklearn digits scaled to [0, 1] (about 5 s)."""
    x, y = load_digits(return_X_y=True)
    clf = MLPClassifier(activation="relu", hidden_layer_sizes=(32, 16), random_state=0, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit((x / 16).astype(np.float32), y)


def sklearn_mlp() -> onnx.ModelProto:
    """skl2onnx conversion of sklearn_mlp_classifier(): input "input" (N, 64), outputs "label" (int64)
    and "probabilities" (float tensor, zipmap off)."""
    clf = sklearn_mlp_classifier()
    return to_onnx(
        clf, initial_types=[("input", FloatTensorType([None, 64]))], options={id(clf): {"zipmap": False}}
    )


FIXTURES = Path(__file__).resolve().parent.parent / "models" / "fixtures"


def keras_cnn() -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    """The tf2onnx fixture from models/make_keras_fixture.py: (model, x NHWC (4, 28, 28, 1), y_keras)."""
    data = np.load(FIXTURES / "keras_cnn_io.npz")
    return onnx.load(FIXTURES / "keras_cnn.onnx"), data["x"], data["y_keras"]
