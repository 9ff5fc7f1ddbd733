"""Train a scikit-learn MLPClassifier on the digits training split and export it to ONNX with skl2onnx.

    python models/export_sklearn_mlp.py -o sklearn_mlp.onnx [--hidden 64 32]

An ANN from a framework other than PyTorch, for the README's session: ReLU hidden layers (64, 32) by default,
input "input" (N, 64) with pixels scaled to [0, 1] as in onnx2snn's ``digits`` data, outputs "label"
and "probabilities" (no ZipMap). It trains on the same 1397 images as ``digits:train``, so
``--data digits`` (the 400 test images) is held out. Needs skl2onnx (the dev extra).
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from onnx2snn.data.datasets import digits  # noqa: E402
from onnx2snn.save import save_model  # noqa: E402


def export_mlp(path, hidden=(64, 32), seed=0):
    """Train a ReLU MLPClassifier with ``hidden`` layer sizes (random_state ``seed``) on digits:train, write
    it to ``path``; return its test accuracy by scikit-learn and by ONNX Runtime on the written file."""
    x_train, y_train = digits("train")
    x_test, y_test = digits("test")
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation="relu", max_iter=500, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)
    model = to_onnx(clf, initial_types=[("input", FloatTensorType([None, 64]))], options={id(clf): {"zipmap": False}})
    save_model(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    labels = session.run(["label"], {"input": x_test})[0]
    return float(clf.score(x_test, y_test)), float(np.mean(labels == y_test))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", type=Path, default=Path("sklearn_mlp.onnx"))
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 32], help="hidden-layer sizes")
    args = parser.parse_args(argv)
    sklearn_accuracy, onnx_accuracy = export_mlp(args.out, args.hidden)
    print(f"wrote {args.out}: scikit-learn test accuracy {sklearn_accuracy:.4f}, "
          f"ONNX Runtime {onnx_accuracy:.4f} on {len(digits('test')[1])} held-out digits")


if __name__ == "__main__":
    main()
