"""Train the reference nets with today's nonlinearities (models/modern.py), export them to ONNX and record them.

    python models/train_modern.py [--only NAME]

Deterministic on CPU (one thread, seeded, deterministic algorithms), with the recipe of the other MNIST nets
(models/train_mnist.py: Adam, cosine schedule, random shifts of 2 pixels, the 4000 mnist5k training images).
Writes models/modern/<name>.onnx (opset 17) and models/modern/modern.json: per net what it is, the test accuracy
measured with ONNX Runtime on the exported file (1000 mnist5k test images), the opset, the node types, the count of
each nonlinearity node, the number of parameters in the file's float initializers, its size and the training
seconds. With --only the other nets' entries are kept.
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from models.modern import DESCRIPTIONS, MODERN, MODERN_DIR, OPSET, modern_path  # noqa: E402
from models.train_mnist import train_and_export  # noqa: E402
from models.train_zoo import describe_file, train_and_record  # noqa: E402

RECORD = MODERN_DIR / "modern.json"
#: the nodes that compute each net's nonlinearities, as the exporter writes them
NONLINEAR = ("LeakyRelu", "Sigmoid", "Erf", "LayerNormalization", "Softmax")


def train_net(name):
    """Train and export net ``name``; return its modern.json entry."""
    path = modern_path(name)
    start = time.perf_counter()
    entry = train_and_export(name, MODERN[name], path, opset=OPSET)
    seconds = time.perf_counter() - start
    described = describe_file(path)
    del described["relu_sites"]
    counts = Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    return {"description": DESCRIPTIONS[name], **entry, **described,
            "nonlinear_nodes": {op: counts[op] for op in NONLINEAR if counts[op]},
            "train_seconds": round(seconds, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(MODERN), help="retrain this net only")
    args = parser.parse_args(argv)
    train_and_record([args.only] if args.only else list(MODERN), train_net, RECORD, list(MODERN))


if __name__ == "__main__":
    main()
