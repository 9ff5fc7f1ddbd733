"""Accuracy by time step of an SNN (one anytime run to the largest T per batch), ANN alongside, and the two
compared sample by sample (onnx2snn.paired). ONNX Runtime is imported only where the ANN runs."""

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from snnrt.simulate import SpikingNetwork
from snnrt.stats import E_AC_PJ, E_MAC_PJ

from .calibrate import check_input_shape
from .errors import DataError
from .load import load_model
from .paired import compare

DEFAULT_TIMESTEPS = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class Evaluation:
    samples: int
    timesteps: list
    snn_accuracy: dict = field(default_factory=dict)
    ann_accuracy: float = None
    firing_rates: dict = field(default_factory=dict)
    ann_macs: float = None
    sops: dict = field(default_factory=dict)
    static_macs: float = None
    versus_ann: dict = None  # with an ANN: T -> (samples only the SNN gets right, only the ANN, McNemar's p)

    def energy(self, t):
        """(ANN, SNN) energy per sample in microjoules at T=t (E_MAC = 4.6 pJ, E_AC = 0.9 pJ)."""
        return self.ann_macs * E_MAC_PJ * 1e-6, (self.static_macs * E_MAC_PJ + self.sops[t] * E_AC_PJ) * 1e-6

    def as_dict(self):
        return {
            "samples": self.samples,
            "timesteps": list(self.timesteps),
            "ann_accuracy": self.ann_accuracy,
            "snn_accuracy": {str(t): a for t, a in self.snn_accuracy.items()},
            "firing_rates": self.firing_rates,
            "ann_macs": self.ann_macs,
            "sops": {str(t): s for t, s in self.sops.items()},
            "versus_ann": {str(t): dict(zip(("only_snn", "only_ann", "p"), v)) for t, v in self.versus_ann.items()}
            if self.versus_ann is not None else None,
            "energy_uj": {"ann": self.energy(self.timesteps[-1])[0] if self.ann_macs else None,
                          "snn": {str(t): self.energy(t)[1] for t in self.sops} if self.ann_macs else None},
        }


def _check_labels(x, y):
    if y is None:
        raise DataError("evaluation needs labels; give data with labels (an .npz with arrays x and y)")
    if len(y) != len(x):
        raise DataError(f"{len(x)} inputs but {len(y)} labels; give one label per input")


def ann_accuracy(model, x, y, batch_size=256):
    """Top-1 accuracy of an ANN in ONNX Runtime (the independent reference)."""
    return float(ann_correct(model, x, y, batch_size).mean())


def ann_correct(model, x, y, batch_size=256):
    """Which samples an ANN classifies correctly in ONNX Runtime, a boolean array (N,)."""
    import onnxruntime as ort

    _check_labels(x, y)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(load_model(model).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    check_input_shape(session.get_inputs()[0].shape, x.shape, "the data")
    name = session.get_inputs()[0].name
    # classifier exports (skl2onnx, ...) may put an integer label output before the float scores
    scores = next((o.name for o in session.get_outputs() if o.type == "tensor(float)" and len(o.shape) >= 2),
                  session.get_outputs()[0].name)
    correct = []
    for start in range(0, len(x), batch_size):
        out = session.run([scores], {name: x[start : start + batch_size].astype(np.float32)})[0]
        correct.append(out.argmax(axis=-1) == np.asarray(y[start : start + batch_size]))
    return np.concatenate(correct)


def evaluate(snn, x, y, timesteps=DEFAULT_TIMESTEPS, ann=None, batch_size=128, device="auto", progress=False,
             encoding="direct", seed=0, order="auto"):
    """Evaluation of an SNN (path, ModelProto or SpikingNetwork) on (x, y) for every T in ``timesteps``.

    ``ann``: the ANN (path or ModelProto), for its accuracy and a sample-by-sample comparison at every T;
    ``order``: the runtime's execution order, 'auto', 'step' or 'layer' (see snnrt.simulate)."""
    _check_labels(x, y)
    timesteps = sorted(set(int(t) for t in timesteps))
    if not timesteps or timesteps[0] < 1:
        raise ValueError(f"time steps must be positive integers, got {timesteps}")
    network = snn if isinstance(snn, SpikingNetwork) else SpikingNetwork(load_model(snn), device, order)
    t_max = timesteps[-1]
    ann_right = None if ann is None else ann_correct(ann, x, y)
    right = []  # per batch: (len(timesteps), batch) booleans, whether the prediction after each T is correct
    rate_sums = {}
    sops = np.zeros(t_max)
    macs = static = 0.0
    starts = range(0, len(x), batch_size)
    for i, start in enumerate(tqdm(starts, desc="evaluating", unit="batch", disable=not progress, leave=False)):
        xb, yb = x[start : start + batch_size], np.asarray(y[start : start + batch_size])
        result = network.run(xb, t_max, encoding=encoding, seed=seed + i, count_ops=True, keep=timesteps)
        right.append(result.predictions().cpu().numpy() == yb[None, :])
        for name, rate in result.firing_rates.items():
            rate_sums[name] = rate_sums.get(name, 0.0) + rate * len(xb)
        counts = result.op_counts
        macs, static = counts.ann_macs, counts.static_macs
        sops += np.asarray(counts.sops_by_step) * len(xb)
    cumulative_sops = np.cumsum(sops) / len(x)
    right = np.concatenate(right, axis=1)
    return Evaluation(
        samples=len(x),
        timesteps=timesteps,
        snn_accuracy={t: float(row.mean()) for t, row in zip(timesteps, right)},
        ann_accuracy=None if ann_right is None else float(ann_right.mean()),
        firing_rates={name: total / len(x) for name, total in rate_sums.items()},
        ann_macs=macs,
        sops={t: float(cumulative_sops[t - 1]) for t in timesteps},
        static_macs=static,
        versus_ann=None if ann_right is None else {t: compare(row, ann_right) for t, row in zip(timesteps, right)},
    )
