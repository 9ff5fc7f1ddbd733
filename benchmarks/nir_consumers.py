"""NIR export checked by real consumers: snnTorch, Norse and Sinabs load the written file and run T steps.

    python benchmarks/nir_consumers.py [--models mnist_cnn_relu,digits_mlp] [--samples 1000] [--timesteps 32]

For each model: convert (first 1000 training images for calibration; θ/2 without the default spread after
the first step and without layer-wise calibration, so that a consumer needs only metadata['v_init'] and the
file without it is the classic conversion), export with onnx2snn.export.nir_graph,
write and read the file back, load it into each consumer, feed the test images at every step, average the
consumer's per-step outputs and compare with onnx2snn's runtime (anytime means). Prints accuracy after
T = 1, 2, 4, ... steps and the largest |difference| of the anytime outputs of each exact pair.

Average pooling is exported as nir.AvgPool2d (snnTorch imports it), and as nir.SumPool2d for Sinabs (which imports
only that). snnTorch 1.0.0's importer maps nir.IF to ``snn.Leaky(beta=0.9, init_hidden=False)``, which returns a
tuple the next layer cannot take (fixed upstream in snnTorch #395 and #452). The "snnTorch" rows therefore use
``import_nir``'s own mapping for every node except IF, which becomes ``snn.Leaky(beta=1, threshold=...)``:
with ``reset_delay=True`` (snnTorch's default Leaky) that is onnx2snn's IF exactly; with ``reset_delay=False``
(the upstream importer) the subtraction misfires while the membrane stays above threshold.
"""

import argparse
import os
import sys
import tempfile
import time
import warnings

import nir
import nirtorch
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from onnx2snn.convert import convert  # noqa: E402
from onnx2snn.data.datasets import load_builtin  # noqa: E402
from onnx2snn.export.nir_graph import export_nir, write_nir  # noqa: E402
from onnx2snn.load.bundled import bundled_model  # noqa: E402
from snnrt.simulate import SpikingNetwork  # noqa: E402

DATASET = {"mnist_cnn_relu": "mnist5k", "digits_mlp": "digits"}
CHUNK = 250


def snntorch_module(graph, reset_delay):
    import snntorch as snn
    from snntorch import import_nir

    def if_node(node):
        (threshold,) = np.unique(node.v_threshold)
        return snn.Leaky(beta=1.0, threshold=float(threshold), init_hidden=True, reset_delay=reset_delay)

    node_map = {kind: (lambda n: import_nir._nir_to_snntorch_module(n, init_hidden=True))
                for kind in (nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten, nir.AvgPool2d)}
    node_map[nir.IF] = if_node
    return nirtorch.nir_to_torch(graph, node_map)


def run_snntorch(graph, x, steps, reset_delay=True, honour_v_init=False):
    import snntorch as snn

    net = snntorch_module(graph, reset_delay)
    for name, layer in net.named_modules():
        if isinstance(layer, snn.Leaky):
            v0 = torch.from_numpy(np.asarray(graph.nodes[name].metadata["v_init"], np.float32))
            layer.mem = v0.expand(x.shape[0], *v0.shape).clone() if honour_v_init else torch.zeros(0)
    return run_stateful(net, x, steps, first_without_state=True)


def run_released(graph, x, steps):
    from snntorch.import_nir import import_from_nir

    return run_stateful(import_from_nir(graph), x, steps, first_without_state=True)


def run_stateful(net, x, steps, first_without_state=False):
    """A module called as net(x, state) -> (output, state), state None at the start (Norse, Sinabs), or
    first called as net(x) (snnTorch)."""
    outputs, state = [], None
    for _ in range(steps):
        out, state = net(x) if state is None and first_without_state else net(x, state)
        outputs.append(out)
    return torch.stack(outputs)


def run_norse(graph, x, steps):
    import norse.torch

    return run_stateful(norse.torch.from_nir(graph), x, steps)


def run_sinabs(graph, x, steps):
    import sinabs

    return run_stateful(sinabs.from_nir(graph, batch_size=x.shape[0]), x, steps)


def anytime(per_step):
    counts = torch.arange(1, per_step.shape[0] + 1, dtype=per_step.dtype)
    return per_step.cumsum(0) / counts.reshape(-1, *[1] * (per_step.dim() - 1))


@torch.no_grad()
def chunked(fn, x, steps):
    return torch.cat([fn(torch.from_numpy(x[i:i + CHUNK]), steps) for i in range(0, len(x), CHUNK)], dim=1)


def nir_file(snn, folder, name, pooling="avg"):
    """The export written and read back; ``pooling`` 'sum' for Sinabs, which imports SumPool2d, not AvgPool2d."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_nir(snn, pooling=pooling)
    path = os.path.join(folder, f"{name}.nir")
    write_nir(graph, path)
    return nir.read(path)


def evaluate(model, samples, steps, folder):
    dataset = DATASET[model]
    x_cal, _ = load_builtin(dataset, "train")
    x, y = load_builtin(dataset, "test")
    x, y = (x[:samples], y[:samples]) if samples else (x, y)
    path = bundled_model(model)
    snns = {key: convert(str(path), x_cal[:1000], **options) for key, options in {
        "half": {"spread": 0.0, "layerwise": False}, "zero": {"v_init": 0.0, "layerwise": False},
        "reset0": {"v_init": 0.0, "reset": "zero", "layerwise": False}}.items()}
    graphs = {key: nir_file(snn, folder, f"{model}_{key}") for key, snn in snns.items()}
    graphs["half, sum pooling"] = nir_file(snns["half"], folder, f"{model}_half_sum", pooling="sum")
    runs = {
        "onnx2snn θ/2": lambda xb, t: SpikingNetwork(snns["half"].model, "cpu").run(xb, t).outputs,
        "snnTorch, v_init from metadata": lambda xb, t: anytime(run_snntorch(graphs["half"], xb, t,
                                                                             honour_v_init=True)),
        "onnx2snn v0=0": lambda xb, t: SpikingNetwork(snns["zero"].model, "cpu").run(xb, t).outputs,
        "snnTorch, metadata ignored": lambda xb, t: anytime(run_snntorch(graphs["half"], xb, t)),
        "snnTorch 1.0.0 import_from_nir as released": lambda xb, t: anytime(run_released(graphs["half"], xb, t)),
        "snnTorch importer fixed upstream (reset_delay=False)": lambda xb, t: anytime(
            run_snntorch(graphs["half"], xb, t, reset_delay=False)),
        "Norse (resets to 0), θ/2 file": lambda xb, t: anytime(run_norse(graphs["half"], xb, t)),
        "Sinabs (multi-spike, v >= -θ), θ/2 file": lambda xb, t: anytime(run_sinabs(graphs["half, sum pooling"], xb, t)),
        "onnx2snn reset to 0, v0=0": lambda xb, t: SpikingNetwork(snns["reset0"].model, "cpu").run(xb, t).outputs,
        "Norse, reset-to-0 file": lambda xb, t: anytime(run_norse(graphs["reset0"], xb, t)),
    }
    results = {}
    for label, fn in runs.items():
        start = time.time()
        try:
            results[label] = chunked(fn, x, steps)
        except Exception as exc:  # a consumer that cannot load the file is a result to report
            results[label] = f"{type(exc).__name__}: {exc}"
        print(f"  {model}: {label} ({time.time() - start:.0f} s)", file=sys.stderr)
    pairs = [("snnTorch, v_init from metadata", "onnx2snn θ/2"), ("snnTorch, metadata ignored", "onnx2snn v0=0"),
             ("Norse, reset-to-0 file", "onnx2snn reset to 0, v0=0")]
    return y, results, pairs


def report(model, y, results, pairs, steps):
    ts = [t for t in (1, 2, 4, 8, 16, 32, 64, 128) if t <= steps]
    print(f"\n### {model} ({len(y)} test images)\n")
    print("| run | " + " | ".join(f"T={t}" for t in ts) + " |")
    print("|---|" + "---:|" * len(ts))
    labels = torch.from_numpy(y)
    for label, out in results.items():
        if isinstance(out, str):
            print(f"| {label} | " + " | ".join("–" for _ in ts) + " |")
            continue
        accuracy = [(out[t - 1].argmax(-1) == labels).float().mean().item() * 100 for t in ts]
        print(f"| {label} | " + " | ".join(f"{a:.1f}" for a in accuracy) + " |")
    for label, out in results.items():
        if isinstance(out, str):
            print(f"\n{label}: {out}")
    print("\n| consumer | onnx2snn | max abs diff of anytime outputs | max relative | outputs off by > 1e-4 relative"
          " | same predictions (all T) |")
    print("|---|---|---:|---:|---:|---:|")
    for a, b in pairs:
        if isinstance(results[a], str) or isinstance(results[b], str):
            continue
        diff = (results[a] - results[b]).abs()
        relative = diff / results[b].abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
        off = (relative > 1e-4).float().mean().item() * 100
        same = (results[a].argmax(-1) == results[b].argmax(-1)).float().mean().item() * 100
        print(f"| {a} | {b} | {diff.max().item():.2e} | {relative.max().item():.2e} | {off:.3f}% | {same:.2f}% |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist_cnn_relu,digits_mlp")
    parser.add_argument("--samples", type=int, default=1000, help="first N test images (0 = all)")
    parser.add_argument("--timesteps", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models.split(","):
            y, results, pairs = evaluate(model, args.samples, args.timesteps, folder)
            report(model, y, results, pairs, args.timesteps)


if __name__ == "__main__":
    main()
