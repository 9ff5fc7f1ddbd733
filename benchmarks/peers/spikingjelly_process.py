"""What a SpikingJelly user runs to convert and evaluate the bundled MNIST CNN: one process, timed whole by
benchmarks/process_speed.py.

    python benchmarks/peers/spikingjelly_process.py WEIGHTS.pt CALIB.npy DATA.npz T

It imports SpikingJelly, loads the network's PyTorch weights (``torch.load`` with weights_only), converts it
with ann2snn's best rate-coding setting (``"SJ 99.9% ch +½θ"`` of benchmarks/peers/spikingjelly_ann2snn.py),
calibrating on CALIB.npy in batches of 100, runs DATA.npz's images for T steps in one batch (single-step mode,
analog input at every step) and prints the accuracy after T steps as JSON.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from spikingjelly.activation_based import ann2snn, functional

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from models.architectures import MnistCNN  # noqa: E402


@torch.no_grad()
def main(weights, calibration, data, timesteps):
    module = MnistCNN("relu", "avg")
    module.load_state_dict(torch.load(weights, weights_only=True))
    module.eval()
    x_calib = np.load(calibration)
    batches = [torch.from_numpy(x_calib[i:i + 100]) for i in range(0, len(x_calib), 100)]
    recipe = ann2snn.RateCodingRecipe(dataloader=batches, mode="99.9%", channel_wise=True, half_threshold=True)
    snn = ann2snn.Converter(recipe=recipe, device="cpu").convert(module).eval()
    with np.load(data) as arrays:
        x, y = torch.from_numpy(arrays["x"]), arrays["y"]
    functional.reset_net(snn)
    total = 0
    for _ in range(timesteps):
        total = total + snn(x)
    print(json.dumps({"accuracy": float((total.argmax(dim=1).numpy() == y).mean())}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
