"""HardSigmoid, HardSwish, LayerNormalization, Mod, ScatterND and Tile (the ops of MobileNetV3, ViT, ConvNeXt,
Swin's window mask and torch's repeat) against onnxruntime."""

import numpy as np
import pytest
from onnx import helper

from tests.runtime.helpers import check, randn


@pytest.mark.parametrize("attrs", [{}, {"alpha": 1 / 6, "beta": 0.5}, {"alpha": -0.3, "beta": 0.2}])
def test_hard_sigmoid(attrs):
    check(helper.make_node("HardSigmoid", ["x"], ["y"], **attrs), {"x": 5 * randn(2, 3, 4)}, opset=17)


def test_hard_swish():
    check(helper.make_node("HardSwish", ["x"], ["y"]), {"x": 5 * randn(2, 3, 4)}, opset=17)


@pytest.mark.parametrize("axis", [-1, -2, 1])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_normalization(axis, with_bias):
    x = 3 * randn(2, 3, 4, 5) + 1
    normalized = x.shape[axis:]
    initializers = {"scale": randn(*normalized, seed=1) + 1}
    if with_bias:
        initializers["bias"] = randn(*normalized, seed=2)
    node = helper.make_node("LayerNormalization", ["x", "scale"] + ["bias"] * with_bias, ["y"], axis=axis,
                            epsilon=1e-3)
    check(node, {"x": x}, initializers=initializers, opset=17)


def test_layer_normalization_statistics_outputs():
    node = helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["y", "mean", "inv_std"], axis=-1)
    check(node, {"x": randn(2, 3, 6)}, outputs=("y", "mean", "inv_std"),
          initializers={"scale": randn(6, seed=1), "bias": randn(6, seed=2)}, opset=17)


@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_integers(fmod):
    a = np.array([[-7, -3, 0, 5, 9], [4, -4, 11, -12, 13]], np.int64)
    b = np.array([3, -2, 5, 4, -5], np.int64)
    check(helper.make_node("Mod", ["a", "b"], ["y"], fmod=fmod), {"a": a, "b": b}, opset=17)


def test_mod_floats():
    check(helper.make_node("Mod", ["a", "b"], ["y"], fmod=1),
          {"a": 5 * randn(3, 4), "b": randn(4, seed=1) + 3}, opset=17)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd_slices(reduction):
    indices = np.array([[0, 1], [1, -1], [0, 0]], np.int64)
    node = helper.make_node("ScatterND", ["data", "indices", "updates"], ["y"], reduction=reduction)
    check(node, {"data": randn(2, 3, 4), "indices": indices, "updates": randn(3, 4, seed=1)}, opset=18)


def test_scatter_nd_elements_as_swin_writes_its_mask():
    data = np.zeros((1, 4, 4, 1), np.float32)
    indices = np.stack(np.meshgrid(np.arange(1), np.arange(2, 4), np.arange(4), indexing="ij"), -1).astype(np.int64)
    node = helper.make_node("ScatterND", ["data", "indices", "updates"], ["y"])
    check(node, {"data": data, "indices": indices, "updates": np.full((1, 2, 4, 1), 2.0, np.float32)}, opset=17)


@pytest.mark.parametrize("repeats", [[1, 4, 1, 1], [2, 1, 3, 1], [1, 1, 1, 1]])
def test_tile(repeats):
    check(helper.make_node("Tile", ["x", "repeats"], ["y"]), {"x": randn(2, 1, 3, 2)},
          initializers={"repeats": np.array(repeats, np.int64)}, opset=17)
