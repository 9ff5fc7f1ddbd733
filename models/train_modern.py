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
import json
import sys
import time
from collections import Counter
from pathlib import Path

import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from models.modern import DESCRIPTIONS, MODERN, MODERN_DIR, OPSET, modern_path  # noqa: E402
from models.train_mnist import train_and_export  # noqa: E402
from models.train_zoo import describe_file  # noqa: E402

RECORD = MODERN_DIR / "modern.json"
THREADS = 1
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
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    MODERN_DIR.mkdir(parents=True, exist_ok=True)
    for name in [args.only] if args.only else MODERN:
        entry = train_net(name)
        results = json.loads(RECORD.read_text()) if RECORD.exists() else {}
        results[name] = entry
        RECORD.write_text(json.dumps({n: results[n] for n in MODERN if n in results}, indent=2) + "\n")
        print(f"{name}: recorded in {RECORD}", flush=True)


if __name__ == "__main__":
    main()
