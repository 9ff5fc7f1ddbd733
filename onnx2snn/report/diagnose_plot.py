"""A heatmap PNG of a Diagnosis: relative error by IF layer and T, next to each layer's own error."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..save import atomic_write  # noqa: E402


def plot_diagnosis(diagnosis, path, title="onnx2snn"):
    """Write the two heatmaps (layers × T) to ``path`` atomically; the named layer is marked: the best repair, else
    the one that adds the most error itself."""
    steps, layers = diagnosis.timesteps, diagnosis.layers
    panels = (("error", "error at the layer (all upstream error included)"),
              ("own_error", "own error (the layer alone on the ANN's input)"))
    grids = [np.array([[layer.by_t[t][key] for t in steps] for layer in layers]) for key, _ in panels]
    top = max(1e-9, float(max(np.nanmax(g) for g in grids)))
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.1 * len(steps), 1.6 + 0.45 * len(layers)), sharey=True)
    named = diagnosis.best_repair or diagnosis.worst
    names = [layer.name + (" ◀" if layer is named else "") for layer in layers]
    for ax, grid, (_, label) in zip(axes, grids, panels):
        image = ax.imshow(grid, cmap="magma_r", vmin=0, vmax=top, aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 * top else "black")
        ax.set_xticks(range(len(steps)), [str(t) for t in steps])
        ax.set_xlabel("time steps T")
        ax.set_title(label, fontsize=9)
    axes[0].set_yticks(range(len(layers)), [n if len(n) < 28 else "..." + n[-25:] for n in names], fontsize=8)
    fig.colorbar(image, ax=axes, label="‖snn − ann‖ / ‖ann‖", shrink=0.9)
    mark = "repair here first" if diagnosis.best_repair else "adds the most error itself"
    fig.suptitle(f"{title}: where the conversion loses accuracy (◀ {mark})", fontsize=10, y=1.04)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)
