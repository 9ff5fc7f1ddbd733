"""Train a CIFAR-10 architecture of the paper (VGG-16, ResNet-20, ResNet-18) and export it to ONNX.

    python models/train_cifar.py --data cifar-10-batches-py --arch vgg16 --act clip --out vgg16_clip.onnx

The model takes RGB images scaled to [0, 1], shape (N, 3, 32, 32), with no mean/std normalization
(the BatchNorm after the first convolution absorbs it). SGD with momentum and a cosine learning rate,
random-crop (4 pixels) and horizontal-flip augmentation. ``--max-batches 2`` gives a smoke run.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from models.architectures import ACTS, CIFAR_ARCHS  # noqa: E402
from models.training import export_onnx, onnx_accuracy, random_crop, random_flip  # noqa: E402
from onnx2snn.data.cifar import CIFAR10_SPLITS, read_cifar_batches  # noqa: E402


def batches(n, batch_size, max_batches, order=None):
    """Index tensors of consecutive batches (of ``order`` when given), at most ``max_batches`` of them."""
    order = torch.arange(n) if order is None else order
    chunks = order.split(batch_size)
    return chunks[:max_batches] if max_batches else chunks


def evaluate(model, x, y, batch_size, max_batches):
    """Top-1 accuracy of ``model`` on the (uint8) test images, in eval mode."""
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for index in batches(len(x), batch_size, max_batches):
            correct += (model(x[index].float() / 255).argmax(1) == y[index]).sum().item()
            seen += len(index)
    return correct / seen


def train(args):
    """Train, print progress per epoch, export to ``args.out`` and check the file with ONNX Runtime."""
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_np = read_cifar_batches(args.data, CIFAR10_SPLITS["train"])
    x_train, y_train = (torch.from_numpy(a).to(device) for a in train_np)
    x_np, y_np = read_cifar_batches(args.data, CIFAR10_SPLITS["test"])
    x_test, y_test = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)
    model = CIFAR_ARCHS[args.arch](10, args.act).to(device)
    steps = args.epochs * len(batches(len(x_train), args.batch_size, args.max_batches))
    # weight decay on every parameter, the clip bounds λ included: it is their L2 penalty
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    print(f"{args.arch} ({args.act}) on {device}: {len(x_train)} training images, {args.epochs} epochs", flush=True)
    for epoch in range(1, args.epochs + 1):
        model.train()
        start, total_loss, seen = time.perf_counter(), 0.0, 0
        for index in batches(len(x_train), args.batch_size, args.max_batches,
                             torch.randperm(len(x_train), generator=generator).to(device)):
            images = random_flip(random_crop(x_train[index].float() / 255, 4, generator), generator)
            loss = nn.functional.cross_entropy(model(images), y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss, seen = total_loss + loss.item() * len(index), seen + len(index)
        test_acc = evaluate(model, x_test, y_test, args.batch_size, args.max_batches)
        print(f"  epoch {epoch:3d}  loss {total_loss / seen:.4f}  test acc {test_acc:.4f}"
              f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    model = model.cpu()
    export_onnx(model, torch.zeros(1, 3, 32, 32), args.out)
    n_test = min(len(x_np), args.max_batches * args.batch_size) if args.max_batches else len(x_np)
    accuracy = onnx_accuracy(args.out, x_np[:n_test].astype(np.float32) / 255, y_np[:n_test])
    print(f"wrote {args.out}: ONNX Runtime test accuracy {accuracy:.4f} on {n_test} images", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="cifar-10-batches-py directory")
    parser.add_argument("--arch", choices=sorted(CIFAR_ARCHS), default="vgg16")
    parser.add_argument("--act", choices=ACTS, default="relu", help="clip: trainable clip bound λ per layer")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1 ...")
    parser.add_argument("--max-batches", type=int, default=0,
                        help="stop each epoch (and the test evaluation) after this many batches; 0: no limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("model.onnx"))
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()
