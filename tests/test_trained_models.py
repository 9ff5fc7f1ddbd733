"""Conversion of the bundled trained models on real held-out data (scikit-learn digits, MNIST)."""

import numpy as np
import pytest

from onnx2snn.bundled import bundled_model
from onnx2snn.convert import convert
from onnx2snn.datasets import digits, mnist5k
from onnx2snn.evaluate import ann_accuracy, evaluate
from tests.conftest import ort_run

STEPS = (1, 2, 4, 8, 16, 32, 64)


@pytest.fixture(scope="module")
def digits_runs():
    path = bundled_model("digits_mlp")
    x_train, _ = digits("train")
    x_test, y_test = digits("test")
    runs = {v: evaluate(convert(path, x_train, v_init=v).network("cpu"), x_test, y_test, STEPS)
            for v in ("half", "zero")}
    return runs, ann_accuracy(path, x_test, y_test)


def test_half_threshold_start_beats_zero_start_at_low_latency(digits_runs):
    runs, _ = digits_runs
    for t in (1, 2, 4, 8):
        assert runs["half"].snn_accuracy[t] > runs["zero"].snn_accuracy[t], f"T={t}"


def test_digits_snn_reaches_ann_accuracy(digits_runs):
    runs, ann = digits_runs
    assert ann >= 0.95
    assert max(runs["half"].snn_accuracy[t] for t in (16, 32, 64)) >= ann - 0.005


def test_snn_logits_converge_to_ann_logits_on_real_data():
    path = bundled_model("digits_mlp")
    x_train, _ = digits("train")
    x_test, _ = digits("test")
    snn = convert(path, x_train)
    reference = ort_run(snn.ann, x_test)[0]
    outputs = snn.network("cpu").run(x_test, 128).outputs.numpy()
    errors = [float(np.abs(outputs[t - 1] - reference).mean()) for t in (2, 8, 32, 128)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 0.1 * float(np.abs(reference).mean())


@pytest.mark.parametrize("name", ["mnist_cnn_relu", "mnist_cnn_clip", "mnist_cnn_maxpool"])
def test_mnist_cnns_are_close_to_the_ann_at_t8(name):
    path = bundled_model(name)
    x_train, _ = mnist5k("train")
    x_test, y_test = mnist5k("test")
    x_test, y_test = x_test[:300], y_test[:300]
    result = evaluate(convert(path, x_train[:500]).network("cpu"), x_test, y_test, (1, 8))
    assert result.snn_accuracy[8] >= ann_accuracy(path, x_test, y_test) - 0.02
