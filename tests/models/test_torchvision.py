"""torchvision's classification models, untrained and exported at small inputs: each passes ``convert`` with the
default recipe and ``evaluate`` runs its SNN; and the SNNs whose products of two time-varying values became
compensation units (the squeeze-excitation gates of MobileNetV3, the attention of ViT) approach their ANN as T grows.

Small variants keep torchvision's classes and ops: a narrower DenseNet, ConvNeXt, ViT and Swin (the full ones
take hundreds of MB), an EfficientNet of three stages and a RegNet-Y of four blocks, squeeze-excitation gates
included (efficientnet_b0 and regnet_y_400mf convert too, in several times the time). VGG-11 and AlexNet keep their
feature layers and classifier kinds, with the classifier's Linear layers 64 wide (see _narrow_classifier); at
inputs this small their adaptive pooling repeats a 1x1 feature map to 7x7 (AlexNet: 6x6), which the TorchScript
exporter refuses: they are exported by the dynamo exporter, which writes that pooling as a GatherND."""

import functools
import io
import warnings

import numpy as np
import onnx
import pytest
import torch
import torchvision.models as models

import onnx2snn
from onnx2snn.calibrate.signed_thresholds import SignedSpec
from onnx2snn.report.inspect_model import describe
from snnrt import contract
from snnrt.validate import compensation_body
from tests.conftest import ort_run


def _small_convnext():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=10)


def _small_vit():
    from torchvision.models.vision_transformer import VisionTransformer
    vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                            num_classes=10)
    torch.nn.init.normal_(vit.heads.head.weight, std=0.2)  # torchvision starts the head at zero: logits all 0
    return vit


def _small_swin():
    from torchvision.models.swin_transformer import SwinTransformer
    return SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=[4, 4],
                           num_classes=10)


def _small_efficientnet():
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig
    stages = [MBConvConfig(1, 3, 1, 16, 16, 1), MBConvConfig(6, 3, 2, 16, 24, 2), MBConvConfig(6, 5, 2, 24, 40, 1)]
    return EfficientNet(stages, dropout=0.2, num_classes=10)


def _small_regnet():
    from torchvision.models.regnet import BlockParams, RegNet
    return RegNet(BlockParams.from_init_params(depth=4, w_0=16, w_a=8.0, w_m=2.0, group_width=8, se_ratio=0.25),
                  num_classes=10)


def _small_densenet():
    from torchvision.models.densenet import DenseNet
    return DenseNet(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, num_classes=10)


def _narrow_classifier(build):
    """The model of ``build()`` with the Linear layers of its ``classifier`` 64 wide (the last keeps its classes;
    Dropout and ReLU stay): built on the meta device, so that the full classifier's 100M weights are never
    allocated, then given PyTorch's default initialization."""
    with torch.device("meta"):
        model = build()
    linears = [i for i, layer in enumerate(model.classifier) if isinstance(layer, torch.nn.Linear)]
    for i in linears:
        layer = model.classifier[i]
        model.classifier[i] = torch.nn.Linear(layer.in_features if i == linears[0] else 64,
                                              layer.out_features if i == linears[-1] else 64, device="meta")
    model.to_empty(device="cpu")
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model


# name -> (builder, input side)
CASES = {
    "resnet18": (lambda: models.resnet18(num_classes=10), 32),
    "mobilenet_v2": (lambda: models.mobilenet_v2(num_classes=10), 32),
    "shufflenet_v2_x0_5": (lambda: models.shufflenet_v2_x0_5(num_classes=10), 32),
    "squeezenet1_1": (lambda: models.squeezenet1_1(num_classes=10), 32),
    "mnasnet0_5": (lambda: models.mnasnet0_5(num_classes=10), 32),
    "densenet (small)": (_small_densenet, 32),
    "googlenet": (lambda: models.googlenet(num_classes=10, aux_logits=False, init_weights=True), 32),
    "inception_v3": (lambda: models.inception_v3(num_classes=10, aux_logits=False, init_weights=True), 75),
    "mobilenet_v3_small": (lambda: models.mobilenet_v3_small(num_classes=10), 32),
    "efficientnet (small)": (_small_efficientnet, 32),
    "regnet_y (small)": (_small_regnet, 32),
    "convnext (small)": (_small_convnext, 32),
    "vit (small)": (_small_vit, 32),
    "swin (small)": (_small_swin, 32),
    "vgg11 (classifier 64 wide)": (lambda: _narrow_classifier(lambda: models.vgg11(num_classes=10)), 32),
    "alexnet (classifier 64 wide)": (lambda: _narrow_classifier(lambda: models.alexnet(num_classes=10)), 64),
}
DYNAMO = ("vgg11 (classifier 64 wide)", "alexnet (classifier 64 wide)")  # adaptive pooling that repeats values


@functools.cache
def _export(name):
    build, side = CASES[name]
    torch.manual_seed(0)
    module = build().eval()
    buffer = io.BytesIO()
    names = {"input_names": ["x"], "output_names": ["logits"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name in DYNAMO:  # opset 18: the dynamo exporter's least
            program = torch.onnx.export(module, (torch.randn(2, 3, side, side),), dynamo=True, opset_version=18,
                                        verbose=False, dynamic_shapes=({0: torch.export.Dim("n")},), **names)
            return program.model_proto.SerializeToString(), side
        torch.onnx.export(module, torch.randn(2, 3, side, side), buffer, dynamo=False, opset_version=17,
                          dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, **names)
    return buffer.getvalue(), side


@pytest.mark.parametrize("name", list(CASES))
def test_converts_and_evaluates(name, tmp_path):
    """convert and evaluate run; `inspect` on the ANN names what convert made of it: as many IF sites as IF
    layers, every compensation unit by name, and no blocker."""
    model, side = _export(name)
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((4, 3, side, side)).astype(np.float32)
    snn = onnx2snn.convert(model, calibration)
    ops = [node.op_type for node in snn.model.graph.node]
    assert "Relu" not in ops  # every ReLU became an IF layer
    assert {contract.IF_OP, contract.SIGNED_IF_OP} & set(ops)  # it spikes: IF layers, or signed ones (ConvNeXt)
    if name in DYNAMO:  # the pooling's GatherND moves spikes: every weight layer still reads them
        assert "GatherND" in ops and contract.SIGNED_IF_OP not in ops
    path = tmp_path / "model.onnx"
    path.write_bytes(model)
    lines = describe(str(path)).splitlines()
    assert "blocking conversion: none" in lines
    assert f"activations that become IF neurons: {ops.count(contract.IF_OP)}" in lines
    units = [unit.name for unit in snn.compensated or []]
    assert (f"compensation units (not spiking): {len(units)}" in lines) == bool(units)
    assert all(any(line.startswith(f"  {unit}: ") for line in lines) for unit in units)
    result = onnx2snn.evaluate(snn, calibration[:2], np.array([0, 1]), timesteps=(1, 2))
    assert set(result.snn_accuracy) == {1, 2}
    assert all(0.0 <= a <= 1.0 for a in result.snn_accuracy.values())


# name -> (T, the largest relative error of the logits after T steps), measured 0.036 and 0.054 on two inputs
CONVERGING = {"mobilenet_v3_small": (128, 0.06), "vit (small)": (32, 0.08)}


@pytest.mark.parametrize("name", list(CONVERGING))
def test_the_products_converge_to_the_ann(name):
    """Converted so that nothing clips on the inputs it runs on (max thresholds, no layer-wise fit), the SNN's mean
    logits after T steps approach the ANN's: the compensation units compute the products of the means of their
    inputs, and the error left is the rate code's, which falls as 1/T."""
    model, side = _export(name)
    x = np.random.default_rng(0).standard_normal((2, 3, side, side)).astype(np.float32)
    snn = onnx2snn.convert(model, x, threshold="max", layerwise=False, signed_spec=SignedSpec(100, 4, True))
    products = [n for n in snn.model.graph.node if n.op_type == contract.COMPENSATION_OP and len(n.input) == 2]
    assert products and all([o.op_type for o in compensation_body(n).node] in (["Mul"], ["MatMul"]) for n in products)
    steps, bound = CONVERGING[name]
    outputs = snn.network("cpu").run(x, steps, keep=(steps // 16, steps)).outputs.numpy()
    reference = ort_run(onnx.load_from_string(model), x)[0]
    error = [float(np.abs(out - reference).mean() / np.abs(reference).mean()) for out in outputs]
    assert error[1] < min(bound, error[0] / 2), error
