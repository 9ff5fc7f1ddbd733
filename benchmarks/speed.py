"""Simulation speed of onnx2snn against the dense bound and SpikingJelly, side by side in one run.

    python benchmarks/speed.py [--device auto|cpu|cuda] [--repeats 3] [--quick | --imagenet] [--memory-budget MIB]

Cases: the bundled MNIST CNN (``mnist_cnn_relu``, 128 test images) at T = 8 and 32, and an untrained
CIFAR VGG-16 (32x32) at T = 16 (batch 16 on CPU, 128 on CUDA). ``--imagenet`` runs other cases instead: untrained
torchvision VGG-11, VGG-16 and ResNet-18 at 224x224, T = 16 (4 random images on CPU, 16 on CUDA), with the dense
bound and the runtime's two orders only, then the peak memory of one run of each. For each case it prints images per
second:

- onnx2snn step: the runtime's step-by-step order (whole graph once per step), default IF update (numba's
  kernel on CPU where numba is installed, the torch.compile'd one on CUDA: snnrt.simulate.pick_kernel; the numba
  kernel is loaded beforehand, as a process does once it has spent 1 s in eager updates: snnrt.cpu_fused.pays);
- onnx2snn layer: layer-by-layer order (time folded into the batch), default IF update;
- onnx2snn layer, eager IF / torch.compile IF: the same with the other IF updates (a row that would repeat
  the default is left out; compile time is reported apart and excluded, as every later run reuses the kernel);
- dense bound: T x one ANN forward pass on the same runtime and device (the ANN that was converted);
- SpikingJelly: its ann2snn conversion of the same network, stepped T times (single-step mode);
- ONNX Runtime: the standard-ONNX export of the SNN (onnx2snn export --format onnx), its worker threads told
  not to spin after a run (they would otherwise hold the cores while the next method in the round runs);

and each time as a ratio to the dense bound, and SpikingJelly's throughput as a ratio to ours. On CUDA the torch
methods, SpikingJelly included, compute in full float32 (no TF32: snnrt.precision), as the runtime does. Then the
conversion time of an untrained ResNet-50 graph (calibration excluded: its clip activations carry their
thresholds) and the runtime's peak memory in each order (growth of the peak resident size of a fresh
process during one run on CPU, Linux only; peak allocated memory on CUDA), and whole-process times of the command
line against SpikingJelly's and sinabs' scripts (benchmarks/process_speed.py). A time is the best of --repeats
rounds after a warm-up run; each round
runs every method once, so that load changes on a shared machine hit all methods alike.
``--memory-budget`` sets the runtime's chunk budget (SpikingNetwork memory_budget) for the throughput
tables; without it the runtime's default applies (32 MiB on CPU, a quarter of free GPU memory).
"""

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from models.architectures import MnistCNN, vgg16  # noqa: E402
from onnx2snn.convert import convert  # noqa: E402
from onnx2snn.data.datasets import mnist5k  # noqa: E402
from onnx2snn.export.standard_onnx import DEFAULT_TIME_LOOP, export_standard_onnx, ort_session  # noqa: E402
from onnx2snn.load.bundled import bundled_model  # noqa: E402
from process_speed import process_table  # noqa: E402
from snnrt import cpu_fused  # noqa: E402
from snnrt.graph import GraphModule  # noqa: E402
from snnrt.precision import full_float32  # noqa: E402
from snnrt.simulate import SpikingNetwork, pick_device, pick_kernel  # noqa: E402

DENSE = "dense bound (T x ANN)"
ORT = "ONNX Runtime (export)"
OURS = "onnx2snn layer"
IMAGENET = ("vgg11", "vgg16", "resnet18")
ORDERS = {"onnx2snn step": ("step", None), OURS: ("layer", None), "onnx2snn layer, eager IF": ("layer", False),
          "onnx2snn layer, torch.compile IF": ("layer", True)}


def _timed(run, device):
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def interleaved_best(runs, repeats, device):
    """Best wall time of each callable over ``repeats`` rounds, after one warm-up call each.

    Rounds visit every method in turn, so that a change of machine load hits them all alike.
    Returns ({label: best seconds}, {label: warm-up seconds}).
    """
    warm_up = {label: _timed(run, device) for label, run in runs.items()}
    best = {label: float("inf") for label in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            best[label] = min(best[label], _timed(run, device))
    return best, warm_up


def _sj_run(module, calibration, x, timesteps, device):
    """A callable that runs SpikingJelly's conversion of ``module`` for T steps, or (None, why not)."""
    try:
        from peers import spikingjelly_ann2snn as sj
        from spikingjelly.activation_based import functional
    except ImportError as exc:
        return None, f"not installed ({exc.name})"
    try:
        snn = sj.convert(module, calibration, sj.SETTINGS["SJ 99.9% ch +½θ"]).to(device)
    except sj.CannotConvert as exc:
        return None, str(exc)
    xb = torch.from_numpy(x).to(device)

    @torch.no_grad()
    def run():
        functional.reset_net(snn)
        total = None
        with full_float32(device):  # the numerics of our runtime (snnrt.precision), not TF32
            for _ in range(timesteps):
                out = snn(xb)
                total = out if total is None else total + out
        return total

    return run, "single-step mode; its converted models have no multi-step mode"


def ort_run(model, x, timesteps, device, time_loop=DEFAULT_TIME_LOOP):
    """A callable that runs ONNX Runtime on the standard-ONNX export of the SNN ``model`` for the batch x."""
    session = ort_session(export_standard_onnx(model, timesteps, time_loop=time_loop),
                          "cuda" if device.type == "cuda" else "cpu", spin=False)
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(x, np.float32)}
    return lambda: session.run(None, feed)


def _ort_case(model, x, timesteps, device):
    """(ort_run's callable, None), or (None, why not) where onnxruntime lacks the device's provider."""
    try:
        return ort_run(model, x, timesteps, device), None
    except ValueError as exc:
        return None, str(exc)


def case(name, snn, module, calibration, x, timesteps, repeats, device, budget, peers=True):
    """One table: images/s of each method for the batch x at ``timesteps`` steps. ``peers=False``: the dense bound
    and the runtime's two orders with the default IF update only (no SpikingJelly, ONNX Runtime, other IF updates)."""
    runs, notes, kernels = {}, {}, {}
    xt = torch.from_numpy(x).to(device)
    ann = GraphModule(snn.ann).to(device).eval()
    runs[DENSE] = torch.no_grad()(lambda: ann(xt))
    for label, (order, fused) in ORDERS.items():
        if fused is not None and (not peers or pick_kernel(device, fused) == pick_kernel(device)):
            continue
        network = SpikingNetwork(snn.model, device, order=order, fused=fused, memory_budget=budget)
        if network.kernel == "numba":
            cpu_fused.load()
        runs[label] = lambda network=network: network.run(xt, timesteps)
        kernels[label] = network.kernel
        notes[label] = f"IF update: {network.kernel}"
    if peers:
        runs["SpikingJelly"], notes["SpikingJelly"] = _sj_run(module, calibration, x, timesteps, device)
        runs[ORT], why = _ort_case(snn.model, x, timesteps, device)
        if why:
            notes[ORT] = why
    seconds, warm_up = interleaved_best({k: v for k, v in runs.items() if v is not None}, repeats, device)
    seconds[DENSE] *= timesteps
    for label, kernel in kernels.items():
        if kernel == "compiled":
            notes[label] += f"; first run {warm_up[label]:.1f} s: compiles the IF kernel"
    dense, ours = seconds[DENSE], seconds[OURS]
    print(f"\n{name}, T={timesteps}, batch {len(x)}, {describe(device)}")
    print("| method | images/s | time / dense bound | time / ours |\n|---|---|---|---|")
    for label in runs:
        note = f" ({notes[label]})" if label in notes else ""
        if label not in seconds:
            print(f"| {label}{note} | n/a | | |")
            continue
        print(f"| {label}{note} | {_rate(len(x) / seconds[label])} | {seconds[label] / dense:.2f}x | "
              f"{seconds[label] / ours:.2f}x |")
    return {label: len(x) / s for label, s in seconds.items()}


def _rate(images_per_s):
    """Images/s to print: one decimal, or three significant digits below 10 (the ImageNet-size cases)."""
    return f"{images_per_s:.1f}" if images_per_s >= 10 else f"{images_per_s:.3g}"


def describe(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


def mnist_case(timesteps, repeats, device, budget):
    x_train, _ = mnist5k("train")
    x_test, _ = mnist5k("test")
    snn = convert(bundled_model("mnist_cnn_relu"), x_train[:256])
    from peers.spikingjelly_ann2snn import load_onnx_weights
    module = MnistCNN("relu", "avg")
    load_onnx_weights(module, bundled_model("mnist_cnn_relu"), x_test[:8])
    return [case("bundled MNIST CNN (mnist_cnn_relu)", snn, module, x_train[:256], x_test[:128], t, repeats, device,
                 budget)
            for t in timesteps]


def _export(module, shape):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, *shape),), buffer, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return buffer.getvalue()


def vgg_case(batch, repeats, device, budget):
    torch.manual_seed(0)
    module = vgg16().eval()
    data = np.random.default_rng(0).random((batch + 64, 3, 32, 32), dtype=np.float32)
    snn = convert(_export(module, (3, 32, 32)), data[:64])
    return case("untrained CIFAR VGG-16", snn, module, data[:64], data[64:], 16, repeats, device, budget)


def imagenet_cases(batch, repeats, device, budget):
    """Untrained torchvision VGG-11, VGG-16 and ResNet-18 at 224x224, T=16: the runtime's orders against the dense
    bound. Thresholds come from the statistics of 4 random images (no layer-wise calibration): the time of a run depends
    on the layer sizes, hardly on the thresholds. Then the peak memory of one run in each order."""
    import torchvision

    figures = {}
    for name in IMAGENET:
        torch.manual_seed(0)
        module = getattr(torchvision.models, name)(weights=None).eval()
        data = np.random.default_rng(0).random((4 + batch, 3, 224, 224), dtype=np.float32)
        snn = convert(_export(module, (3, 224, 224)), data[:4], layerwise=False)
        label = f"untrained {name} (torchvision, 224x224)"
        figures[name] = {"images_per_s": case(label, snn, module, None, data[4:], 16, repeats, device, budget,
                                              peers=False),
                         "memory_mib": memory_table(label, snn, data[4:], 16, device)}
    return figures


def conversion_time():
    from resnet50 import resnet50_onnx

    data, params, nodes = resnet50_onnx()
    start = time.perf_counter()
    snn = convert(data, threshold="clip")
    seconds = time.perf_counter() - start
    print(f"\nconversion of an untrained ResNet-50 ({params / 1e6:.1f} M parameters, {nodes} ONNX nodes, "
          f"{len(snn.layers)} IF layers), calibration excluded: {seconds:.2f} s")
    return seconds


def memory_child(path, inputs, order, timesteps, device):
    """Run in a fresh process: extra memory (bytes) of one run of the SNN at ``path`` on the .npy ``inputs``."""
    device = pick_device(device)
    x = torch.from_numpy(np.load(inputs)).to(device)
    network = SpikingNetwork(path, device, order=order)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        network.run(x, timesteps)
        return torch.cuda.max_memory_allocated(device) - base
    before = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak resident size (VmHWM) to the current one
    network.run(x, timesteps)
    return _peak_resident() - before


def _peak_resident():
    """VmHWM of this process in bytes (Linux): the peak resident size since the last reset."""
    line = next(li for li in Path("/proc/self/status").read_text().splitlines() if li.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def memory_table(name, snn, x, timesteps, device):
    """Extra memory of one run of ``snn`` on the batch x in each order, each in a fresh process (memory_child)."""
    with tempfile.TemporaryDirectory() as folder:
        path, inputs = Path(folder) / "snn.onnx", Path(folder) / "x.npy"
        snn.save(path)
        np.save(inputs, x)
        print(f"\npeak memory of one run, {name}, T={timesteps}, batch {len(x)}, {describe(device)}")
        print("| order | extra memory (MiB) |\n|---|---|")
        result = {}
        for order in ("step", "layer"):
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(path), str(inputs), order,
                                  str(timesteps), str(device)], capture_output=True, text=True)
            if out.returncode:
                raise RuntimeError(f"memory measurement of the {order} order failed:\n{out.stderr[-3000:]}")
            result[order] = int(out.stdout.strip()) / 2**20
            print(f"| {order} | {result[order]:.0f} |")
    return result


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of MiB, got {text}")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    cases = parser.add_mutually_exclusive_group()
    cases.add_argument("--quick", action="store_true", help="MNIST CNN at T=8 only, no VGG-16 / ResNet-50")
    cases.add_argument("--imagenet", action="store_true",
                       help="only the ImageNet-size cases: untrained VGG-11, VGG-16 and ResNet-18 at 224x224, T=16")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--memory-budget", type=_positive_int, metavar="MIB",
                        help="the runtime's chunk budget in MiB for the throughput tables (default: its own)")
    parser.add_argument("--memory-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        path, inputs, order, timesteps, device = args.memory_child
        print(memory_child(path, inputs, order, int(timesteps), device))
        return
    device = pick_device(args.device)
    budget = args.memory_budget << 20 if args.memory_budget else None
    figures = {"device": describe(device), "memory_budget_mib": args.memory_budget}
    if args.imagenet:
        figures["imagenet"] = imagenet_cases(16 if device.type == "cuda" else 4, args.repeats, device, budget)
    else:
        figures["mnist_cnn"] = mnist_case((8,) if args.quick else (8, 32), args.repeats, device, budget)
        if not args.quick:
            figures["vgg16"] = vgg_case(128 if device.type == "cuda" else 16, args.repeats, device, budget)
            figures["resnet50_conversion_s"] = conversion_time()
            snn = convert(bundled_model("mnist_cnn_relu"), mnist5k("train")[0][:256])
            figures["memory_mib"] = memory_table("bundled MNIST CNN", snn, mnist5k("test")[0][:128], 32, device)
            figures["whole_process"] = process_table(args.repeats)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
