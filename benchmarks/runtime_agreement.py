"""Agreement of snnrt with ONNX Runtime on real exporter output, before and after normalization.

Prints, for every exporter case of tests/exported_models.py (and the scikit-learn and Keras models),
the max abs difference of: the normalized graph vs the original (both in ONNX Runtime), snnrt vs
ONNX Runtime on the original, and snnrt on the normalized graph vs ONNX Runtime on the original.

    python benchmarks/runtime_agreement.py
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onnx2snn.load.model import load_model  # noqa: E402
from onnx2snn.normalize import normalize  # noqa: E402
from snnrt.graph import GraphModule  # noqa: E402
from tests.exported_models import CASES, get_case, keras_cnn, sample_input, sklearn_mlp  # noqa: E402


def _ort(model, x, output=0):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[output]


def _ours(model, x):
    with torch.no_grad():
        out = GraphModule(model)(torch.from_numpy(x))
    return (out[0] if isinstance(out, tuple) else out).numpy()


def main():
    rows = [(f"{name} {exporter} opset {opset}", load_model(get_case(name, exporter, opset)),
             sample_input(name, 3), 0) for name, exporter, opset in CASES]
    keras_model, keras_x, _ = keras_cnn()
    rows.append(("keras cnn tf2onnx opset 13", load_model(keras_model), keras_x, 0))
    rows.append(("sklearn MLPClassifier skl2onnx", load_model(sklearn_mlp()), sample_input("mlp", 3).reshape(3, 64), 1))
    print(f"{'case':<44} {'nodes':>11} {'|norm-orig|':>12} {'|ours-ort|':>11} {'|ours(norm)-ort|':>17} {'scale':>8}")
    worst = 0.0
    for label, model, x, output in rows:
        reference = _ort(model, x, output)
        clean, _ = normalize(model)
        normalized = _ort(clean, x)
        ours_raw = _ours(model, x) if output == 0 else None
        ours_clean = _ours(clean, x)
        scale = max(1.0, float(np.abs(reference).max()))
        diffs = [np.abs(normalized - reference).max(), np.abs(ours_clean - reference).max()]
        raw = "-" if ours_raw is None else f"{np.abs(ours_raw - reference).max():.2e}"
        worst = max(worst, max(diffs) / scale)
        nodes = f"{len(model.graph.node)}->{len(clean.graph.node)}"
        print(f"{label:<44} {nodes:>11} {diffs[0]:12.2e} {raw:>11} {diffs[1]:17.2e} {scale:8.3g}")
    print(f"worst difference relative to output scale: {worst:.2e} (tolerance in the tests: 1e-4)")


if __name__ == "__main__":
    main()
