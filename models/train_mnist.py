"""Train the small reference models on built-in data, export them to ONNX, record their accuracy.

    python models/train_mnist.py [--only NAME] [--out DIR]

Deterministic on CPU. Writes ``<name>.onnx`` and ``accuracy.json`` (default folder: models/onnx), whose test
accuracies are measured on the exported files with ONNX Runtime.
"""

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import onnx
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from models.architectures import DigitsMLP, MnistCNN, fold_batchnorm, set_levels, threshold_penalty  # noqa: E402
from models.training import OPSET, export_onnx, onnx_accuracy, random_crop  # noqa: E402
from onnx2snn.data.datasets import load_builtin  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent / "onnx"
SEED = 0
THREADS = 2
THRESHOLD_L2 = 1e-3


@dataclass(frozen=True)
class QCFS:
    """QCFS training (Bu et al., ICLR 2022), so that the converted SNN (θ = λ, v_init = θ/2) does well from T=1.

    Phase 1 trains the spec's epochs with every TrainableClip quantized to L levels, L drawn per batch from
    ``levels``. Its BatchNorm statistics average over activations of mixed L, which costs accuracy at L=1
    (T=1), so phase 2 folds BatchNorm into the convolutions and fine-tunes for ``finetune_epochs`` (cosine
    schedule from ``finetune_lr``) with L drawn from ``finetune_levels`` (None: the plain clip, as exported).
    """

    levels: tuple
    finetune_levels: tuple
    finetune_epochs: int
    finetune_lr: float


@dataclass(frozen=True)
class Spec:
    dataset: str
    build: Callable[[], nn.Module]
    epochs: int
    lr: float
    batch_size: int
    shift: int  # random-shift augmentation in pixels (0: none)
    qcfs: QCFS | None = None


SPECS = {
    "mnist_cnn_relu": Spec("mnist5k", lambda: MnistCNN("relu", "avg"), 20, 2e-3, 64, 2),
    "mnist_cnn_clip": Spec("mnist5k", lambda: MnistCNN("clip", "avg"), 20, 2e-3, 64, 2,
                           QCFS(levels=(1, 2, 4, 8), finetune_levels=(1, 1, 2, 4, 8, None), finetune_epochs=8,
                                finetune_lr=2e-4)),
    "mnist_cnn_maxpool": Spec("mnist5k", lambda: MnistCNN("relu", "max"), 20, 2e-3, 64, 2),
    "digits_mlp": Spec("digits", DigitsMLP, 50, 2e-3, 32, 0),
}


def train(spec, x, y, x_test, y_test, seed=SEED):
    """Adam with a cosine learning-rate schedule; cross-entropy plus THRESHOLD_L2 * Σλ²; then, with
    ``spec.qcfs``, the BatchNorm-folded fine-tune. ``seed`` seeds initialization, batch order, augmentation
    and the QCFS levels. The returned model has the plain clip (for export)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    level_generator = torch.Generator().manual_seed(seed)
    model = spec.build()
    data = (x, y, x_test, y_test)
    qcfs = spec.qcfs
    fit(model, spec, data, spec.epochs, spec.lr, qcfs.levels if qcfs else (), generator, level_generator)
    if qcfs:
        print(f"  fine-tune with BatchNorm folded, L from {qcfs.finetune_levels}", flush=True)
        fit(fold_batchnorm(model), spec, data, qcfs.finetune_epochs, qcfs.finetune_lr, qcfs.finetune_levels,
            generator, level_generator)
    return model


def fit(model, spec, data, epochs, lr, levels, generator, level_generator):
    """Train ``model`` for ``epochs`` (cosine schedule from ``lr``), each batch with every TrainableClip
    quantized to L levels drawn from ``levels`` (none when empty); report plain-clip test accuracy."""
    x, y, x_test, y_test = data
    steps = epochs * -(-len(x) // spec.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for epoch in range(1, epochs + 1):
        model.train()
        start, total_loss = time.perf_counter(), 0.0
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), spec.batch_size):
            index = order[i:i + spec.batch_size]
            if levels:
                set_levels(model, levels[torch.randint(len(levels), (), generator=level_generator)])
            xb = random_crop(x[index], spec.shift, generator) if spec.shift else x[index]
            loss = nn.functional.cross_entropy(model(xb), y[index]) + THRESHOLD_L2 * threshold_penalty(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(index)
        model.eval()
        set_levels(model, None)
        with torch.no_grad():
            test_acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"  epoch {epoch:3d}  loss {total_loss / len(x):.4f}  test acc {test_acc:.4f}"
              f"  ({time.perf_counter() - start:.1f} s)", flush=True)


def train_and_export(name, spec, path, seed=SEED, opset=OPSET):
    """Train model ``name`` of ``spec`` from ``seed``, export it to ``path`` at ``opset`` and return its
    accuracy.json entry."""
    x, y = (torch.from_numpy(a) for a in load_builtin(spec.dataset, "train"))
    x_test, y_test = load_builtin(spec.dataset, "test")
    print(f"{name}: {len(x)} training samples, {spec.epochs} epochs", flush=True)
    start = time.perf_counter()
    model = train(spec, x, y, torch.from_numpy(x_test), torch.from_numpy(y_test), seed)
    export_onnx(model, x[:1], path, opset)
    onnx.checker.check_model(str(path))
    accuracy = onnx_accuracy(path, x_test, y_test)
    ops = sorted({node.op_type for node in onnx.load(str(path)).graph.node})
    print(f"{name}: ONNX Runtime test accuracy {accuracy:.4f}, {time.perf_counter() - start:.0f} s, "
          f"{path.stat().st_size / 1024:.0f} KiB, nodes {ops}", flush=True)
    return {"dataset": spec.dataset, "test_accuracy": accuracy, "test_samples": len(y_test),
            "opset": opset, "nodes": ops}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(SPECS), help="retrain this model only")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder to write to (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    args.out.mkdir(parents=True, exist_ok=True)
    record = args.out / "accuracy.json"
    results = json.loads(record.read_text()) if args.only and record.exists() else {}
    for name in [args.only] if args.only else SPECS:
        results[name] = train_and_export(name, SPECS[name], args.out / f"{name}.onnx")
        record.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
