"""Train the zoo's nets (models/zoo.py), export them to ONNX and record them.

    python models/train_zoo.py [--only NAME] [--half dev|heldout]

Deterministic on CPU (one thread, seeded, deterministic algorithms). Writes models/zoo/<name>.onnx and
models/zoo/zoo.json: per net its dataset, half, the axis it varies, the test accuracy measured with ONNX
Runtime on the exported file, the number of test samples, the opset, the node types, the number of
activation (Relu/Clip) nodes, the number of parameters in the file's initializers, the training seconds
and the file's size. With --only or --half the other nets' entries are kept.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from models.export_sklearn_mlp import export_mlp  # noqa: E402
from models.train_mnist import train_and_export  # noqa: E402
from models.zoo import HALVES, ZOO, ZOO_DIR, zoo_names, zoo_path  # noqa: E402
from onnx2snn.data.datasets import load_builtin  # noqa: E402

RECORD = ZOO_DIR / "zoo.json"
THREADS = 1
ACTIVATIONS = ("Relu", "Clip")


def describe_file(path):
    """What zoo.json records about the ONNX file at ``path`` itself."""
    model = onnx.load(str(path))
    return {
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "nodes": sorted({node.op_type for node in model.graph.node}),
        "relu_sites": sum(node.op_type in ACTIVATIONS for node in model.graph.node),
        "parameters": int(sum(np.prod(numpy_helper.to_array(i).shape, dtype=np.int64)
                              for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT)),
        "onnx_bytes": path.stat().st_size,
    }


def train_net(name):
    """Train and export zoo net ``name``; return its zoo.json entry."""
    net, path = ZOO[name], zoo_path(name)
    start = time.perf_counter()
    if net.build is None:
        _, accuracy = export_mlp(path, net.hidden, net.seed)
        entry = {"test_accuracy": accuracy, "test_samples": len(load_builtin(net.dataset, "test")[1])}
    else:
        entry = train_and_export(name, net, path, net.seed)
    seconds = time.perf_counter() - start
    return {**entry, **describe_file(path), "dataset": net.dataset, "half": net.half,
            "description": net.description, "train_seconds": round(seconds, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(ZOO), help="retrain this net only")
    parser.add_argument("--half", choices=HALVES, help="retrain the nets of this half only")
    args = parser.parse_args(argv)
    train_and_record([args.only] if args.only else zoo_names(args.half), train_net, RECORD, list(ZOO))


def train_and_record(names, train, record, order):
    """Run ``train(name)`` for each of ``names`` (one thread, deterministic algorithms) and write the entry it
    returns into the JSON file ``record`` after each, keeping the other entries, in the order of ``order``."""
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    record.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        entry = train(name)
        results = json.loads(record.read_text()) if record.exists() else {}
        results[name] = entry
        record.write_text(json.dumps({n: results[n] for n in order if n in results}, indent=2) + "\n")
        print(f"{name}: recorded in {record}", flush=True)


if __name__ == "__main__":
    main()
