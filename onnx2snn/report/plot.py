"""PNG plots of an evaluation: accuracy vs T (SNN and ANN) and firing rate per layer."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..save import atomic_write  # noqa: E402


def plot_evaluation(result, path, title="onnx2snn"):
    """Write a two-panel PNG to ``path`` atomically."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.2, 1]})
    steps = result.timesteps
    left.plot(steps, [100 * result.snn_accuracy[t] for t in steps], "o-", label="SNN")
    if result.ann_accuracy is not None:
        left.axhline(100 * result.ann_accuracy, color="k", ls="--", label=f"ANN {100 * result.ann_accuracy:.2f}%")
    left.set_xscale("log", base=2)
    left.set_xticks(steps, [str(t) for t in steps])
    left.set_xlabel("time steps T")
    left.set_ylabel("test accuracy (%)")
    left.set_title(f"{title}: accuracy by T ({result.samples} samples)")
    left.grid(alpha=0.3)
    left.legend(loc="lower right")
    names = list(result.firing_rates)
    right.barh(range(len(names)), [result.firing_rates[n] for n in names])
    right.set_yticks(range(len(names)), [n if len(n) < 28 else "..." + n[-25:] for n in names], fontsize=8)
    right.invert_yaxis()
    right.set_xlabel("spikes per neuron per step")
    right.set_title("firing rate per IF layer")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
