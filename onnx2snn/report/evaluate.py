"""Accuracy by time step of an SNN (one anytime run to the largest T per batch), ANN alongside, and the two
compared sample by sample (onnx2snn.report.paired). ONNX Runtime is imported only where the ANN runs."""

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from snnrt.simulate import SpikingNetwork, check_class_scores
from snnrt.stats import E_AC_PJ, E_MAC_PJ

from ..calibrate.thresholds import check_input_shape
from ..data.batches import as_inputs, is_stream, iter_batches
from ..distributed import gather_records, owns
from ..errors import DataError
from ..load.model import load_model
from .paired import mcnemar

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
    spiking_macs: float = None  # the ANN's MACs in the layers that read spikes: those that became SOPs
    stepped_ops: dict = field(default_factory=dict)  # T -> non-spiking operations done step by step up to T

    def nonspiking_ops(self, t):
        """Operations per sample up to T=t that stay non-spiking (snnrt.stats): the MACs computed once, those of
        weight layers that read real values, and the work of compensation units."""
        return self.static_macs + self.stepped_ops[t]

    def nonspiking_share(self, t):
        """The share of all operations up to T=t (non-spiking ones and SOPs) that stay non-spiking."""
        total = self.nonspiking_ops(t) + self.sops[t]
        return self.nonspiking_ops(t) / total if total else 0.0

    @property
    def ann_macs_share_as_sops(self):
        """The share of the ANN's MACs that became SOPs (in layers that read spikes)."""
        return self.spiking_macs / self.ann_macs if self.ann_macs else 0.0

    def energy(self, t):
        """(ANN, SNN) energy per sample in microjoules at T=t (E_MAC = 4.6 pJ, E_AC = 0.9 pJ; a non-spiking
        operation costs a MAC)."""
        return self.ann_macs * E_MAC_PJ * 1e-6, (self.nonspiking_ops(t) * E_MAC_PJ + self.sops[t] * E_AC_PJ) * 1e-6

    def as_dict(self):
        return {
            "samples": self.samples,
            "timesteps": list(self.timesteps),
            "ann_accuracy": self.ann_accuracy,
            "snn_accuracy": {str(t): a for t, a in self.snn_accuracy.items()},
            "firing_rates": self.firing_rates,
            "ann_macs": self.ann_macs,
            "sops": {str(t): s for t, s in self.sops.items()},
            "static_macs": self.static_macs,
            "nonspiking_ops": {str(t): self.nonspiking_ops(t) for t in self.sops},
            "nonspiking_share": {str(t): self.nonspiking_share(t) for t in self.sops},
            "ann_macs_share_as_sops": self.ann_macs_share_as_sops,
            "versus_ann": {str(t): dict(zip(("only_snn", "only_ann", "p"), v)) for t, v in self.versus_ann.items()}
            if self.versus_ann is not None else None,
            "energy_uj": {"ann": self.energy(self.timesteps[-1])[0] if self.ann_macs else None,
                          "snn": {str(t): self.energy(t)[1] for t in self.sops} if self.ann_macs else None},
        }


class EvaluationSums:
    """What an evaluation adds up, kept batch by batch (a few numbers each) so that batches run apart, by several
    processes (onnx2snn.distributed), add up in the order one process adds them: the same figures to the last bit.
    ``add(i, result, y, ann_right)`` records batch i; ``evaluation()`` sums the batches in order."""

    def __init__(self, timesteps):
        self.timesteps = timesteps
        self.batches = {}

    def add(self, index, result, labels, ann_right=None):
        right = result.predictions().cpu().numpy() == labels[None, :]
        counts = result.op_counts
        record = {"samples": len(labels), "right": right.sum(axis=1),
                  "rates": {name: rate * len(labels) for name, rate in result.firing_rates.items()},
                  "sops": np.asarray(counts.sops_by_step) * len(labels), "macs": counts.ann_macs,
                  "static": counts.static_macs, "spiking": counts.spiking_macs,
                  "stepped": np.asarray(counts.nonspiking_by_step) * len(labels)}
        if ann_right is not None:
            record.update(ann_right=int(ann_right.sum()), only_snn=(right & ~ann_right).sum(axis=1),
                          only_ann=(~right & ann_right).sum(axis=1))
        self.batches[index] = record

    def gather(self, layers, with_ann):
        """Take in the batches of every other process (onnx2snn.distributed; nothing alone): ``layers``, the names of
        the IF layers in the firing rates; ``with_ann``, whether the batches compare with an ANN."""
        k, steps = len(self.timesteps), self.timesteps[-1]
        fields = [("samples", 1), ("right", k), ("macs", 1), ("static", 1), ("spiking", 1), ("sops", steps),
                  ("stepped", steps)]
        fields += [("ann_right", 1), ("only_snn", k), ("only_ann", k)] if with_ann else []
        vectors = {i: np.concatenate([np.atleast_1d(record[name]) for name, _ in fields]
                                     + [[record["rates"][layer] for layer in layers]])
                   for i, record in self.batches.items()}
        merged = gather_records(vectors, sum(width for _, width in fields) + len(layers))
        for i, vector in merged.items():
            if i in self.batches:
                continue
            record, at = {}, 0
            for name, width in fields:
                value = vector[at : at + width]
                record[name] = value if name in ("right", "sops", "stepped", "only_snn", "only_ann") else value[0]
                at += width
            record["rates"] = dict(zip(layers, (float(v) for v in vector[at:])))
            record["samples"] = int(record["samples"])
            self.batches[i] = record

    @property
    def samples(self):
        return sum(record["samples"] for record in self.batches.values())

    def evaluation(self):
        records = [self.batches[i] for i in sorted(self.batches)]
        samples, timesteps = self.samples, self.timesteps
        rate_sums, sops, stepped = {}, np.zeros(timesteps[-1]), np.zeros(timesteps[-1])
        for record in records:
            for name, rate in record["rates"].items():
                rate_sums[name] = rate_sums.get(name, 0.0) + rate
            sops += record["sops"]
            stepped += record["stepped"]
        cumulative_sops, cumulative_stepped = np.cumsum(sops) / samples, np.cumsum(stepped) / samples
        right = sum(record["right"] for record in records)
        with_ann = "ann_right" in records[0]
        versus = None
        if with_ann:
            only_snn, only_ann = (sum(record[key] for record in records) for key in ("only_snn", "only_ann"))
            versus = {t: (int(a), int(b), mcnemar(int(a), int(b))) for t, a, b in zip(timesteps, only_snn, only_ann)}
        return Evaluation(
            samples=samples,
            timesteps=timesteps,
            snn_accuracy={t: int(count) / samples for t, count in zip(timesteps, right)},
            ann_accuracy=sum(record["ann_right"] for record in records) / samples if with_ann else None,
            firing_rates={name: total / samples for name, total in rate_sums.items()},
            ann_macs=records[-1]["macs"],
            sops={t: float(cumulative_sops[t - 1]) for t in timesteps},
            static_macs=records[-1]["static"],
            versus_ann=versus,
            spiking_macs=records[-1]["spiking"],
            stepped_ops={t: float(cumulative_stepped[t - 1]) for t in timesteps},
        )


def _check_labels(x, y):
    if y is None:
        raise DataError("evaluation needs labels; give data with labels (an .npz with arrays x and y)")
    if len(y) != len(x):
        raise DataError(f"{len(x)} inputs but {len(y)} labels; give one label per input")


def ann_accuracy(model, x, y, batch_size=256):
    """Top-1 accuracy of an ANN in ONNX Runtime (the independent reference)."""
    return float(ann_correct(model, x, y, batch_size).mean())


def ann_classifier(model):
    """A function from a batch of inputs to the ANN's predicted classes, in ONNX Runtime on the CPU (the
    independent reference)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(load_model(model).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    # classifier exports (skl2onnx, ...) may put an integer label output before the float scores
    scores = next((o.name for o in session.get_outputs() if o.type == "tensor(float)" and len(o.shape) >= 2),
                  session.get_outputs()[0].name)

    def classify(x):
        check_input_shape(session.get_inputs()[0].shape, x.shape, "the data")
        out = session.run([scores], {name: np.asarray(x, np.float32)})[0]
        check_class_scores(out.shape)
        return out.argmax(axis=-1)

    return classify


def ann_correct(model, x, y, batch_size=256):
    """Which samples an ANN classifies correctly in ONNX Runtime, a boolean array (N,)."""
    _check_labels(x, y)
    classify = ann_classifier(model)
    return np.concatenate([classify(xb) == yb for _, xb, yb in iter_batches(x, batch_size, y)])


def evaluate(snn, x, y=None, timesteps=DEFAULT_TIMESTEPS, ann=None, batch_size=128, device="auto", progress=False,
             encoding="direct", seed=0, order="auto"):
    """Evaluation of an SNN (path, ModelProto, SnnModel or SpikingNetwork) on labelled data for every T in
    ``timesteps``.

    The data: inputs x (an array (N, ...) or LazyInputs) with labels y, or x an iterable of (x, y) batches (a
    torch DataLoader) and y None; batch i runs with Poisson seed ``seed + i``, in batches of ``batch_size`` whatever
    the iterable's own. ``ann``: the ANN (path or ModelProto), for its accuracy and a sample-by-sample comparison
    at every T; ``order``: the runtime's execution order, 'auto', 'step' or 'layer' (see snnrt.simulate);
    ``encoding``: 'direct' (the input at every step) or 'poisson' (seeded by ``seed``). One run to the largest T
    per batch gives every T's accuracy.

    Example::

        import onnx2snn
        x_test, y_test = onnx2snn.mnist5k("test")
        result = onnx2snn.evaluate("cnn.snn.onnx", x_test, y_test, timesteps=(1, 4, 16),
                                   ann="models/onnx/mnist_cnn_relu.onnx")
        print(result.snn_accuracy, result.ann_accuracy)
    """
    if not is_stream(x):
        x = as_inputs(x)
        _check_labels(x, y)
    timesteps = sorted(set(int(t) for t in timesteps))
    if not timesteps or timesteps[0] < 1:
        raise ValueError(f"time steps must be positive integers, got {timesteps}")
    if isinstance(snn, SpikingNetwork):
        network = snn
    else:  # an SnnModel (onnx2snn.convert) holds its ModelProto as .model
        network = SpikingNetwork(load_model(getattr(snn, "model", snn)), device, order)
    totals = EvaluationSums(timesteps)
    classify = None if ann is None else ann_classifier(ann)
    total = None if is_stream(x) else -(-len(x) // batch_size)
    batches = iter_batches(x, batch_size, y, keep=owns)  # with several processes, this one's (onnx2snn.distributed)
    for start, xb, yb in tqdm(batches, total=total, desc="evaluating", unit="batch", disable=not progress,
                              leave=False):
        if yb is None:
            raise DataError("evaluation needs labels; give (x, y) batches")
        i = start // batch_size
        ann_right = None if classify is None else classify(xb) == yb  # first: it checks the inputs' shape
        result = network.run(xb, timesteps[-1], encoding=encoding, seed=seed + i, count_ops=True, keep=timesteps)
        totals.add(i, result, yb, ann_right)
    spiking = [node.name for node, layer in network.graph.stateful_layers() if getattr(layer, "spiking", True)]
    totals.gather(spiking, classify is not None)  # the layers with firing rates: compensation units have none
    if not totals.samples:
        raise DataError("evaluation needs at least one labelled sample")
    return totals.evaluation()
