"""An untrained ResNet-50 (ImageNet layout, 224x224, 1000 classes) with trained-clip activations.

Only its size matters: the speed benchmark times how long onnx2snn takes to convert a graph of this
size. Its activations are clips with a bound (``TrainableClip``), so thresholds come from the graph and
conversion needs no calibration data.
"""

import io
import warnings

import onnx
import torch
from torch import nn

from models.architectures import activation

STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # (width, blocks, stride of the first block)
EXPANSION = 4


def _conv_bn(c_in, c_out, kernel, stride=1):
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out)]


class Bottleneck(nn.Module):
    def __init__(self, c_in, width, stride):
        super().__init__()
        c_out = width * EXPANSION
        self.residual = nn.Sequential(*_conv_bn(c_in, width, 1), activation("clip"),
                                      *_conv_bn(width, width, 3, stride), activation("clip"),
                                      *_conv_bn(width, c_out, 1))
        changes = stride != 1 or c_in != c_out
        self.shortcut = nn.Sequential(*_conv_bn(c_in, c_out, 1, stride)) if changes else nn.Identity()
        self.act = activation("clip")

    def forward(self, x):
        return self.act(self.residual(x) + self.shortcut(x))


def resnet50(num_classes=1000):
    layers, c_in = [*_conv_bn(3, 64, 7, 2), activation("clip"), nn.AvgPool2d(3, 2, 1)], 64
    for width, blocks, stride in STAGES:
        for i in range(blocks):
            layers.append(Bottleneck(c_in, width, stride if i == 0 else 1))
            c_in = width * EXPANSION
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers).eval()


def resnet50_onnx():
    """(serialized ONNX model, parameter count) of an untrained ResNet-50, batch dimension dynamic."""
    torch.manual_seed(0)
    model = resnet50()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), buffer, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    proto = onnx.load_from_string(buffer.getvalue())
    return buffer.getvalue(), sum(p.numel() for p in model.parameters()), len(proto.graph.node)
