"""What a sinabs user runs to convert and evaluate the bundled MNIST CNN: one process, timed whole by
benchmarks/process_speed.py.

    python benchmarks/peers/sinabs_process.py WEIGHTS.pt CALIB.npy DATA.npz T

It imports sinabs, loads the network's PyTorch weights (``torch.load`` with weights_only), folds each BatchNorm
into its convolution, normalizes the weights on CALIB.npy (Rueckauer et al. 2017: lambda_l, the 99.99th
percentile of ReLU l's activations; weights times lambda_(l-1) / lambda_l, biases over lambda_l, the output layer's
weights times the last lambda), converts with ``sinabs.from_torch.from_model`` (IAF neurons of threshold 1, reset
by subtraction, one spike per step at most), runs DATA.npz's images for T steps in one batch (the analog image at
every step) and prints the accuracy after T steps as JSON.

``sinabs.utils.normalize_weights`` is not used: it measures each layer after normalizing the ones before and then
divides the layer's weights and bias alike, which is right for layers without biases only; on this CNN (biases in
every layer) it left the output to the last layer's bias (10% accuracy).
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from sinabs.activation import SingleSpike
from sinabs.from_torch import from_model
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from models.architectures import MnistCNN  # noqa: E402


def folded(module):
    """A Sequential copy of ``module`` with every Conv2d -> BatchNorm2d pair fused into one Conv2d."""
    layers = list(module)
    out = []
    for layer in layers:
        if isinstance(layer, nn.BatchNorm2d) and out and isinstance(out[-1], nn.Conv2d):
            out[-1] = fuse_conv_bn_eval(out[-1], layer)
        else:
            out.append(layer)
    return nn.Sequential(*out).eval()


@torch.no_grad()
def normalize(ann, calibration, percentile=99.99):
    """Rueckauer et al.'s data-based normalization of a Sequential of Conv2d/Linear layers and ReLUs, in place."""
    layers = list(ann)
    activations = []
    hooks = [m.register_forward_hook(lambda m, i, o: activations.append(np.percentile(o.numpy(), percentile)))
             for m in layers if isinstance(m, nn.ReLU)]
    ann(calibration)
    for hook in hooks:
        hook.remove()
    weighted = [m for m in layers if isinstance(m, (nn.Conv2d, nn.Linear))]
    previous = 1.0
    for layer, scale in zip(weighted, activations + [None]):
        layer.weight *= previous / (scale or 1.0)
        if scale is not None:
            layer.bias /= scale
        previous = scale


@torch.no_grad()
def main(weights, calibration, data, timesteps):
    module = MnistCNN("relu", "avg")
    module.load_state_dict(torch.load(weights, weights_only=True))
    ann = folded(module.eval())
    normalize(ann, torch.from_numpy(np.load(calibration)))
    snn = from_model(ann, input_shape=(1, 28, 28), spike_fn=SingleSpike, num_timesteps=timesteps).spiking_model
    with np.load(data) as arrays:
        x, y = torch.from_numpy(arrays["x"]), arrays["y"]
    repeated = x[:, None].expand(len(x), timesteps, *x.shape[1:]).reshape(-1, *x.shape[1:])  # (N*T, ...), N outer
    out = snn(repeated).reshape(len(x), timesteps, -1).sum(dim=1)
    print(json.dumps({"accuracy": float((out.argmax(dim=1).numpy() == y).mean())}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
