"""Helpers shared by the training scripts: augmentation, ONNX export, ONNX Runtime evaluation."""

import warnings

import numpy as np
import onnxruntime as ort
import torch

OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def random_crop(x, pad, generator):
    """Zero-pad (N, C, H, W) images by ``pad`` and cut a random H x W window from each (a random shift)."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    top, left = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(x.device)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_flip(x, generator):
    """Flip each (N, C, H, W) image left-right with probability 1/2."""
    flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def export_onnx(model, sample, path, opset=OPSET):
    """Export ``model`` in eval mode with the TorchScript exporter (default opset 13, dynamic batch axis)."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (sample,), str(path), dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )


def onnx_accuracy(path, x, y, batch_size=500):
    """Top-1 accuracy of the ONNX model at ``path`` on (x, y), run by ONNX Runtime on CPU."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = [session.run(None, {INPUT_NAME: x[i:i + batch_size]})[0] for i in range(0, len(x), batch_size)]
    return float((np.concatenate(logits).argmax(1) == y).mean())
