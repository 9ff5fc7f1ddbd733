"""torchvision's classification models, untrained and exported at small inputs: each passes ``convert`` with the
default recipe and ``evaluate`` runs its SNN. The architectures that still need what onnx2snn does not have yet are
strict xfails, each with the reason, so that they fail once they convert.

Small variants keep torchvision's classes and ops: a narrower DenseNet, ConvNeXt, ViT and Swin (the full ones
take hundreds of MB); VGG and AlexNet are left out: at small inputs their adaptive pooling to a 7x7 (6x6) map is
refused by the TorchScript exporter, and their 100M-weight classifiers are too large for a test."""

import functools
import io
import warnings

import numpy as np
import pytest
import torch
import torchvision.models as models

import onnx2snn
from onnx2snn.errors import UnsupportedModelError
from snnrt import contract

SE_GATE = ("squeeze-excitation: x times a gate computed from x through weight layers, a product of two time-varying "
           "values")
ATTENTION = "attention's products of two time-varying values that pass through weight layers"


def _small_convnext():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=10)


def _small_vit():
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                             num_classes=10)


def _small_swin():
    from torchvision.models.swin_transformer import SwinTransformer
    return SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=[4, 4],
                           num_classes=10)


def _small_densenet():
    from torchvision.models.densenet import DenseNet
    return DenseNet(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, num_classes=10)


# name -> (builder, input side, None where it converts today, else why it does not)
CASES = {
    "resnet18": (lambda: models.resnet18(num_classes=10), 32, None),
    "mobilenet_v2": (lambda: models.mobilenet_v2(num_classes=10), 32, None),
    "shufflenet_v2_x0_5": (lambda: models.shufflenet_v2_x0_5(num_classes=10), 32, None),
    "squeezenet1_1": (lambda: models.squeezenet1_1(num_classes=10), 32, None),
    "mnasnet0_5": (lambda: models.mnasnet0_5(num_classes=10), 32, None),
    "densenet (small)": (_small_densenet, 32, None),
    "googlenet": (lambda: models.googlenet(num_classes=10, aux_logits=False, init_weights=True), 32, None),
    "inception_v3": (lambda: models.inception_v3(num_classes=10, aux_logits=False, init_weights=True), 75, None),
    "mobilenet_v3_small": (lambda: models.mobilenet_v3_small(num_classes=10), 32, SE_GATE),
    "efficientnet_b0": (lambda: models.efficientnet_b0(num_classes=10), 32, SE_GATE),
    "regnet_y_400mf": (lambda: models.regnet_y_400mf(num_classes=10), 32, SE_GATE),
    "convnext (small)": (_small_convnext, 32, None),
    "vit (small)": (_small_vit, 32, ATTENTION),
    "swin (small)": (_small_swin, 32, ATTENTION),
}


@functools.cache
def _export(name):
    build, side, _ = CASES[name]
    torch.manual_seed(0)
    module = build().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.randn(2, 3, side, side), buffer, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    return buffer.getvalue(), side


def _params():
    for name, (_, _, blocked) in CASES.items():
        marks = [pytest.mark.xfail(raises=UnsupportedModelError, strict=True, reason=blocked)] if blocked else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_params()))
def test_converts_and_evaluates(name):
    model, side = _export(name)
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((4, 3, side, side)).astype(np.float32)
    snn = onnx2snn.convert(model, calibration)
    ops = [node.op_type for node in snn.model.graph.node]
    assert "Relu" not in ops  # every ReLU became an IF layer
    assert {contract.IF_OP, contract.SIGNED_IF_OP} & set(ops)  # it spikes: IF layers, or signed ones (ConvNeXt)
    result = onnx2snn.evaluate(snn, calibration[:2], np.array([0, 1]), timesteps=(1, 2))
    assert set(result.snn_accuracy) == {1, 2}
    assert all(0.0 <= a <= 1.0 for a in result.snn_accuracy.values())
