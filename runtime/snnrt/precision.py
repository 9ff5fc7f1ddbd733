"""Full float32 arithmetic on CUDA while a graph runs: no TF32 in convolutions and matrix products.

torch lets cuDNN convolutions use TF32 by default (``torch.backends.cudnn.allow_tf32``), which keeps only 10
bits of each float32 mantissa. An SNN is sensitive to that: a current that lands near a threshold fires or not
depending on its last bits, so the spikes would move away from the CPU's (and from ONNX Runtime's on the CPU
with the exported file), and between the two execution orders. The runtime therefore computes in full float32 and gives the
caller's settings back afterwards.
"""

import contextlib

import torch


@contextlib.contextmanager
def full_float32(device):
    """Within the block, no TF32 for cuDNN convolutions or CUDA matrix products when ``device`` is a CUDA
    device (a torch.device or None); the previous settings come back on exit, also after an exception."""
    if device is None or device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
