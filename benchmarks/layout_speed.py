"""Row-major against channels-last 2-D convolutions on the CPU, on the layer shapes of the bundled and zoo CNNs,
CIFAR VGG-16 and ImageNet-size nets: the measurement behind snnrt.ops.conv.CPU_CHANNELS_LAST_POSITIONS.

    python benchmarks/layout_speed.py [--repeats 5] [--threads 1]

Each shape is (input channels, output channels, map size, batch), a 3x3 convolution with padding 1 on 0/1 spikes
(10% ones). A time is the best CPU time (user + system of this process) of --repeats calls after two warm-up
calls; CPU time on one thread keeps the comparison steady on a shared machine. The last column says which layout
the runtime picks for that map.
"""

import argparse
import time

import torch

from snnrt.ops.conv import CPU_CHANNELS_LAST_POSITIONS

SHAPES = [(16, 32, 28, 128), (32, 64, 14, 128), (64, 64, 7, 128),  # MNIST CNNs at batch x steps 128
          (3, 64, 32, 64), (64, 128, 16, 64), (128, 256, 8, 64), (256, 512, 4, 64), (512, 512, 2, 64),  # VGG-16
          (64, 64, 56, 16), (128, 128, 28, 16), (256, 256, 14, 16), (512, 512, 7, 16)]  # ImageNet-size


def best_cpu_time(x, w, repeats):
    for _ in range(2):
        torch.conv2d(x, w, padding=1)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        torch.conv2d(x, w, padding=1)
        best = min(best, time.process_time() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    print(f"3x3 convolutions on spikes, CPU, {args.threads} thread(s), best CPU time of {args.repeats}")
    print("| in | out | map | batch | row-major ms | channels-last ms | row-major / channels-last | runtime picks |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for channels, out, size, batch in SHAPES:
        x = (torch.rand(batch, channels, size, size, generator=generator) < 0.1).float()
        w = torch.randn(out, channels, 3, 3, generator=generator)
        row = best_cpu_time(x, w, args.repeats)
        last = best_cpu_time(x.contiguous(memory_format=torch.channels_last), w, args.repeats)
        pick = "channels-last" if size * size >= CPU_CHANNELS_LAST_POSITIONS else "row-major"
        print(f"| {channels} | {out} | {size}x{size} | {batch} | {row * 1e3:.2f} | {last * 1e3:.2f} | "
              f"{row / last:.2f} | {pick} |")


if __name__ == "__main__":
    main()
