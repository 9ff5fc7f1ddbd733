"""The exported-model library builds: every case exports, passes onnx.checker and runs in onnxruntime."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tests.exported_models import (
    CASES,
    build_model,
    export_torch,
    get_case,
    keras_cnn,
    sample_input,
    sklearn_mlp,
    sklearn_mlp_classifier,
)


def _session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, case)) for case in CASES])
def test_case_runs_with_dynamic_batch(case):
    name, _, opset = case
    model = onnx.load_from_string(get_case(*case))
    onnx.checker.check_model(model, full_check=True)
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {opset}
    session = _session(get_case(*case))
    torch_model = build_model(name)
    for batch in (1, 3):
        x = sample_input(name, batch)
        (y,) = session.run(None, {"input": x})
        with torch.no_grad():
            expected = torch_model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_export_is_deterministic():
    case = ("shufflenet", "torchscript", 13)
    assert export_torch(*case).SerializeToString() == get_case(*case)


def test_sklearn_mlp_matches_predict_proba():
    x = sample_input("mlp", 3).reshape(3, 64)
    session = _session(sklearn_mlp().SerializeToString())
    label, probabilities = session.run(["label", "probabilities"], {"input": x})
    clf = sklearn_mlp_classifier()
    np.testing.assert_allclose(probabilities, clf.predict_proba(x), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(label, clf.predict(x))


def test_keras_fixture_reproduces_keras_output():
    model, x, y_keras = keras_cnn()
    (y,) = _session(model.SerializeToString()).run(None, {model.graph.input[0].name: x})
    np.testing.assert_allclose(y, y_keras, atol=1e-4)
