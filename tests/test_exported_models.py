"""Real exporter output (PyTorch TorchScript and dynamo exporters, scikit-learn, Keras via tf2onnx):
normalization keeps the function, and snnrt computes what ONNX Runtime computes."""

import numpy as np
import pytest
import torch

from onnx2snn.load.model import load_model
from onnx2snn.normalize import normalize
from snnrt.graph import GraphModule
from tests.conftest import ort_run
from tests.exported_models import CASES, get_case, keras_cnn, sample_input, sklearn_mlp

MAX_DIFFERENCES = {}


def _tolerance(reference):
    return 1e-4 * max(1.0, float(np.abs(reference).max()))


def _ours(model, x):
    with torch.no_grad():
        out = GraphModule(model)(torch.from_numpy(x))
    return (out[0] if isinstance(out, tuple) else out).numpy()


def _check(model, x, label):
    reference = ort_run(model, x)[0]
    clean, _ = normalize(model)
    normalized = ort_run(clean, x)[0]
    ours_raw, ours_clean = _ours(model, x), _ours(clean, x)
    tol = _tolerance(reference)
    differences = [float(np.abs(a - reference).max()) for a in (normalized, ours_raw, ours_clean)]
    MAX_DIFFERENCES[label] = differences
    assert differences[0] <= tol, f"normalized graph differs from the original by {differences[0]}"
    assert differences[1] <= tol, f"snnrt on the original differs from ONNX Runtime by {differences[1]}"
    assert differences[2] <= tol, f"snnrt on the normalized graph differs by {differences[2]}"
    return clean


@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, case)) for case in CASES])
def test_torch_exports(case):
    model = load_model(get_case(*case))
    for batch in (1, 3):
        _check(model, sample_input(case[0], batch), f"{case} batch {batch}")


def test_sklearn_mlp_classifier():
    model = load_model(sklearn_mlp())
    x = sample_input("mlp", 3).reshape(3, 64)
    clean = normalize(model)[0]
    assert [o.name for o in clean.graph.output] == ["probabilities"]
    reference = ort_run(model, x)[1]
    np.testing.assert_allclose(_ours(clean, x), reference, atol=_tolerance(reference))
    assert {n.op_type for n in clean.graph.node} <= {"Gemm", "Relu", "Softmax", "Cast", "MatMul", "Add"}


def test_keras_cnn_through_tf2onnx():
    model, x, y_keras = keras_cnn()
    clean = _check(load_model(model), x, "keras")
    np.testing.assert_allclose(_ours(clean, x), y_keras, atol=1e-4)
