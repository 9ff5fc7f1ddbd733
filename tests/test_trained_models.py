"""Conversion of the bundled trained models on real held-out data (scikit-learn digits, MNIST)."""

import functools

import numpy as np
import pytest

from onnx2snn.convert import convert
from onnx2snn.data.datasets import digits, mnist5k
from onnx2snn.load.bundled import bundled_model
from onnx2snn.report.evaluate import ann_accuracy, evaluate
from tests.conftest import ort_run


@pytest.fixture(autouse=True, scope="module")
def _without_layerwise():
    """The targets of the conversion core (θ/2, spread, mse thresholds) on the bundled models: convert() without layer-wise calibration here (tests/test_layerwise.py tests it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("onnx2snn.defaults.LAYERWISE", False)
        yield

LONG = (1, 2, 4, 8, 32, 64)
SHORT = (1, 2, 4, 8)
TEST_IMAGES = 300


@functools.lru_cache(maxsize=None)
def _mnist_run(name, v_init, steps, spread=None):
    path = bundled_model(name)
    x_train, _ = mnist5k("train")
    x_test, y_test = mnist5k("test")
    x_test, y_test = x_test[:TEST_IMAGES], y_test[:TEST_IMAGES]
    snn = convert(path, x_train[:500], v_init=v_init, spread=spread)
    return evaluate(snn.network("cpu"), x_test, y_test, steps), ann_accuracy(path, x_test, y_test)


def test_half_threshold_start_beats_zero_start_at_low_latency():
    half, _ = _mnist_run("mnist_cnn_relu", "half", SHORT, 0.0)
    zero, _ = _mnist_run("mnist_cnn_relu", "zero", SHORT)
    for t in (1, 2, 4, 8):
        assert half.snn_accuracy[t] > zero.snn_accuracy[t], f"T={t}"
    assert half.snn_accuracy[1] > 0.8 and zero.snn_accuracy[1] < 0.2


def test_spread_after_the_first_step_beats_no_spread_from_two_steps():
    spread, _ = _mnist_run("mnist_cnn_relu", "half", LONG)
    common, _ = _mnist_run("mnist_cnn_relu", "half", SHORT, 0.0)
    assert spread.snn_accuracy[1] == common.snn_accuracy[1]
    for t in (2, 4, 8):
        assert spread.snn_accuracy[t] > common.snn_accuracy[t], f"T={t}"
    assert spread.snn_accuracy[2] > 0.9 and common.snn_accuracy[2] < 0.8


def test_max_pooling_cnn_is_near_the_ann_from_eight_steps():
    result, ann = _mnist_run("mnist_cnn_maxpool", "half", LONG)
    for t in (8, 32, 64):  # 300 test images, 500 calibration images: the benchmark measures the 1-point target
        assert result.snn_accuracy[t] >= ann - 0.015, f"T={t}: {result.snn_accuracy}"


@pytest.mark.parametrize("name", ["mnist_cnn_relu", "mnist_cnn_clip", "mnist_cnn_maxpool"])
def test_mnist_cnns_reach_the_ann_and_do_not_decline_with_t(name):
    result, ann = _mnist_run(name, "half", LONG)
    assert result.snn_accuracy[64] >= ann - 0.015
    assert result.snn_accuracy[64] >= result.snn_accuracy[32] - 0.01


def test_qcfs_trained_clip_model_is_accurate_from_one_step():
    result, ann = _mnist_run("mnist_cnn_clip", "half", LONG)
    assert result.snn_accuracy[1] >= 0.9
    assert result.snn_accuracy[4] >= ann - 0.01


def test_digits_mlp_reaches_ann_accuracy():
    path = bundled_model("digits_mlp")
    x_train, _ = digits("train")
    x_test, y_test = digits("test")
    result = evaluate(convert(path, x_train).network("cpu"), x_test, y_test, (1, 16, 32, 64))
    ann = ann_accuracy(path, x_test, y_test)
    assert ann >= 0.95
    assert max(result.snn_accuracy[t] for t in (16, 32, 64)) >= ann - 0.01
    assert result.snn_accuracy[1] > 0.8


def test_snn_logits_converge_to_ann_logits_on_real_data():
    path = bundled_model("digits_mlp")
    x_train, _ = digits("train")
    x_test, _ = digits("test")
    snn = convert(path, x_train, threshold="max")
    reference = ort_run(snn.ann, x_test)[0]
    outputs = snn.network("cpu").run(x_test, 128).outputs.numpy()
    errors = [float(np.abs(outputs[t - 1] - reference).mean()) for t in (2, 8, 32, 128)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 0.02 * float(np.abs(reference).mean())
