"""Reference models: architecture shapes, the clip activation's export, the CIFAR training script,
and the committed ONNX files against models/onnx/accuracy.json."""

import functools
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from models import train_cifar
from models.architectures import (ACTS, CIFAR_ARCHS, DigitsMLP, MnistCNN, TrainableClip, fold_batchnorm,
                                  set_levels, threshold_penalty)
from models.training import export_onnx
from onnx2snn.data.datasets import load_builtin
from onnx2snn.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
ONNX_DIR = ROOT / "models" / "onnx"
RECORD = json.loads((ONNX_DIR / "accuracy.json").read_text())


@functools.cache
def held_out(dataset):
    return load_builtin(dataset, "test")


def forward(model, *shape):
    with torch.no_grad():
        return model.eval()(torch.rand(*shape))


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_mnist_cnn_shape(act, pool):
    assert forward(MnistCNN(act, pool), 2, 1, 28, 28).shape == (2, 10)


def test_digits_mlp_shape():
    assert forward(DigitsMLP(), 3, 64).shape == (3, 10)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("arch", sorted(CIFAR_ARCHS))
def test_cifar_shape(arch, act):
    model = CIFAR_ARCHS[arch](10, act)
    assert forward(model, 2, 3, 32, 32).shape == (2, 10)
    assert any(isinstance(m, TrainableClip) for m in model.modules()) == (act == "clip")


def test_unknown_activation_or_pool_raises():
    with pytest.raises(ValueError, match="act must be"):
        MnistCNN(act="gelu")
    with pytest.raises(ValueError, match="pool must be"):
        MnistCNN(pool="min")


def test_trainable_clip_values_gradient_and_penalty():
    clip = TrainableClip(init=1.5)
    x = torch.tensor([-1.0, 0.5, 2.0, 3.0])
    y = clip(x)
    assert torch.equal(y, torch.tensor([0.0, 0.5, 1.5, 1.5]))
    y.sum().backward()
    assert clip.threshold.grad.item() == 2.0  # one per clipped element
    assert threshold_penalty(torch.nn.Sequential(clip, TrainableClip(init=2.0))).item() == 1.5**2 + 2.0**2


def test_trainable_clip_exports_as_one_clip_node(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), TrainableClip(init=0.75))
    export_onnx(model, torch.zeros(1, 4), tmp_path / "clip.onnx")
    graph = onnx.load(str(tmp_path / "clip.onnx")).graph
    assert sorted(n.op_type for n in graph.node) == ["Clip", "Constant", "Gemm"]
    clip = next(n for n in graph.node if n.op_type == "Clip")
    bounds = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    assert bounds[clip.input[2]].shape == () and bounds[clip.input[2]] == np.float32(0.75)


def test_trainable_clip_with_levels_is_the_qcfs_quantized_clip_and_exports_plain(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), TrainableClip(init=2.0))
    clip = model[1]
    x = torch.tensor([-1.0, 0.2, 0.26, 1.0, 3.0], requires_grad=True)
    set_levels(model, 4)  # steps of λ/L = 0.5, rounded to the nearest step
    y = clip(x)
    assert torch.equal(y, torch.tensor([0.0, 0.0, 0.5, 1.0, 2.0]))
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # straight-through inside [0, λ]
    set_levels(model, None)
    assert torch.equal(clip(x.detach()), torch.tensor([0.0, 0.2, 0.26, 1.0, 2.0]))
    export_onnx(model, torch.zeros(1, 4), tmp_path / "clip.onnx")
    assert sorted(n.op_type for n in onnx.load(str(tmp_path / "clip.onnx")).graph.node) == ["Clip", "Constant", "Gemm"]


def test_fold_batchnorm_keeps_the_eval_output_and_removes_every_batchnorm():
    torch.manual_seed(0)
    model = MnistCNN("clip", "avg")
    for bn in (m for m in model if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 2)
        bn.bias.data.uniform_(-1, 1)
    x = torch.rand(4, 1, 28, 28)
    expected = model.eval()(x)
    fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert all(m.bias is not None for m in model if isinstance(m, torch.nn.Conv2d))
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model.train()(x), expected, rtol=1e-5, atol=1e-5)  # no batch statistics left


def write_fake_cifar(directory, per_batch=8):
    """A cifar-10-batches-py directory with the real structure and random content."""
    rng = np.random.default_rng(0)
    directory.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(per_batch)],
        }
        with open(directory / name, "wb") as f:
            pickle.dump(batch, f)


def test_train_cifar_smoke_run_writes_loadable_onnx(tmp_path):
    write_fake_cifar(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "resnet20.onnx"
    cmd = [sys.executable, "models/train_cifar.py", "--data", str(tmp_path / "cifar-10-batches-py"),
           "--arch", "resnet20", "--act", "clip", "--epochs", "1", "--batch-size", "4", "--max-batches", "2",
           "--device", "cpu", "--out", str(out)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "epoch   1" in result.stdout
    onnx.checker.check_model(str(out))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": np.zeros((3, 3, 32, 32), np.float32)})
    assert logits.shape == (3, 10)


def test_train_cifar_reports_missing_data(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        train_cifar.main(["--data", str(tmp_path), "--max-batches", "1"])


def test_record_lists_every_committed_onnx_file():
    assert sorted(p.stem for p in ONNX_DIR.glob("*.onnx")) == sorted(RECORD)


@pytest.mark.parametrize("name", sorted(RECORD))
def test_committed_onnx_matches_record(name):
    entry, path = RECORD[name], ONNX_DIR / f"{name}.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {entry["opset"]}
    assert sorted({n.op_type for n in model.graph.node}) == entry["nodes"]
    x, y = held_out(entry["dataset"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": x})
    assert len(y) == entry["test_samples"]
    assert abs(float((logits.argmax(1) == y).mean()) - entry["test_accuracy"]) < 1e-9
