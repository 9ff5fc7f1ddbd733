"""BatchNormalization (inference) and LRN against onnxruntime."""

import numpy as np
import pytest
from tests.runtime.helpers import check, randn, run_onnxruntime
from onnx import helper


def _bn_params(channels):
    rng = np.random.default_rng(7)
    return {
        "scale": rng.uniform(0.5, 1.5, channels).astype(np.float32),
        "bias": rng.standard_normal(channels).astype(np.float32),
        "mean": rng.standard_normal(channels).astype(np.float32),
        "var": rng.uniform(0.1, 2.0, channels).astype(np.float32),
    }


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (2, 3, 4, 5), (1, 3, 2, 3, 4)])
@pytest.mark.parametrize("epsilon", [None, 1e-3])
def test_batch_normalization(opset, shape, epsilon):
    attrs = {} if epsilon is None else {"epsilon": epsilon}
    node = helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], **attrs)
    check(node, {"x": randn(*shape)}, initializers=_bn_params(shape[1]), opset=opset)


def test_batch_normalization_runtime_params():
    node = helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"])
    check(node, {"x": randn(2, 3, 4, 4), **_bn_params(3)}, opset=15)


def lrn_spec(model, inputs):
    """LRN as the spec writes it, in numpy, for what onnxruntime refuses (even sizes, rank other than 4).

    y = x / (bias + alpha / size * square_sum)^beta, square_sum[n, c] = sum of x[n, i]^2 over channels
    i in [c - floor((size-1)/2), c + ceil((size-1)/2)]. (onnx 1.23's ReferenceEvaluator loops over the batch
    axis instead of the channels, onnx/onnx#7805, so it cannot serve.)
    """
    attrs = {a.name: a for a in model.graph.node[0].attribute}
    size = attrs["size"].i
    alpha = attrs["alpha"].f if "alpha" in attrs else 1e-4
    beta = attrs["beta"].f if "beta" in attrs else 0.75
    bias = attrs["bias"].f if "bias" in attrs else 1.0
    x = next(iter(inputs.values())).astype(np.float64)
    square_sum = np.zeros_like(x)
    for c in range(x.shape[1]):
        low, high = max(0, c - (size - 1) // 2), min(x.shape[1], c + size // 2 + 1)
        square_sum[:, c] = (x[:, low:high] ** 2).sum(axis=1)
    return [(x / (bias + alpha / size * square_sum) ** beta).astype(np.float32)]


# onnxruntime accepts only odd sizes; the spec reference covers both and is itself checked on the odd ones
@pytest.mark.parametrize(
    "size, reference", [(s, run_onnxruntime) for s in (1, 3, 5)] + [(s, lrn_spec) for s in (1, 2, 3, 4, 5, 8)]
)
@pytest.mark.parametrize("attrs", [{}, {"alpha": 0.1, "beta": 0.5, "bias": 2.0}])
def test_lrn(size, reference, attrs):
    node = helper.make_node("LRN", ["x"], ["y"], size=size, **attrs)
    check(node, {"x": 3 * randn(2, 6, 4, 3)}, opset=13, reference=reference)


@pytest.mark.parametrize("shape", [(2, 5, 7), (1, 4, 2, 3, 2)])
def test_lrn_other_ranks(shape):
    """onnxruntime accepts only 4-D input; the spec allows any rank >= 3."""
    node = helper.make_node("LRN", ["x"], ["y"], size=4, alpha=0.5)
    check(node, {"x": randn(*shape)}, opset=13, reference=lrn_spec)
