"""The smallest T whose SNN accuracy is within a budget of the ANN's, and its cost against the ANN's."""

from dataclasses import dataclass

DEFAULT_POINTS = 1.0  # what eval --ann and demo show without --budget: within 1 percentage point


@dataclass
class SmallestT:
    points: float  # the budget, in percentage points of accuracy
    ann_accuracy: float
    t: int = None  # None: no T evaluated comes within the budget
    accuracy: float = None
    dips: tuple = ()  # later T evaluated whose accuracy falls out of the budget again
    sops: float = None  # per sample at T
    energy_uj: tuple = None  # (ANN, SNN) per sample at T
    nonspiking_share: float = None  # of the operations up to T (onnx2snn.report.evaluate)

    @property
    def holds(self):
        return self.t is not None and not self.dips

    def as_dict(self):
        ann, snn = self.energy_uj or (None, None)
        return {"budget_points": self.points, "t": self.t, "accuracy": self.accuracy, "holds": self.holds,
                "dips_at": list(self.dips), "sops": self.sops, "nonspiking_share": self.nonspiking_share,
                "energy_uj": {"ann": ann, "snn": snn}, "energy_ratio": snn / ann if self.energy_uj else None}

    def sentence(self, last_t):
        """The plain-words line, e.g. 'this SNN reaches the ANN within 1 point at T=4, at 0.2x the ANN's energy'."""
        if self.t is None:
            return f"this SNN does not come within {self._budget()} of the ANN by T={last_t}"
        ann, snn = self.energy_uj
        dips = f" (but not again at T={','.join(map(str, self.dips))})" if self.dips else ""
        return (f"this SNN reaches the ANN within {self._budget()} at T={self.t}{dips}, at {snn / ann:.2g}x the "
                "ANN's energy")

    def _budget(self):
        return f"{self.points:g} point{'s' * (self.points != 1)}"

    def describe(self, last_t):
        """One line, e.g. 'within 1 point of the ANN (98.75%) from T=8 (98.00%), holding to T=64; ...'."""
        budget = self._budget()
        if self.t is None:
            return f"never within {budget} of the ANN ({self.ann_accuracy:.2%}) by T={last_t}"
        ann, snn = self.energy_uj
        held = (f"holding to T={last_t}" if self.holds else
                "but out of it again at T=" + ",".join(map(str, self.dips)))
        return (f"within {budget} of the ANN ({self.ann_accuracy:.2%}) from T={self.t} ({self.accuracy:.2%}), "
                f"{held}; at T={self.t}: {self.sops:.4g} SOPs/sample ({self.nonspiking_share:.2%} of operations "
                f"non-spiking), {snn:.3g} uJ against the ANN's {ann:.3g} uJ ({snn / ann:.2g}x)")


def smallest_t(evaluation, points=DEFAULT_POINTS):
    """The SmallestT of an Evaluation (onnx2snn.report.evaluate) made with an ANN, for a budget of ``points``."""
    if evaluation.ann_accuracy is None:
        raise ValueError("the smallest T within a budget needs the ANN's accuracy: evaluate with an ANN")
    if points < 0:
        raise ValueError(f"the budget must be at least 0 points, got {points}")
    floor = evaluation.ann_accuracy - points / 100 - 1e-12
    within = [t for t in evaluation.timesteps if evaluation.snn_accuracy[t] >= floor]
    if not within:
        return SmallestT(points, evaluation.ann_accuracy)
    t = within[0]
    dips = tuple(later for later in evaluation.timesteps if later > t and later not in within)
    return SmallestT(points, evaluation.ann_accuracy, t, evaluation.snn_accuracy[t], dips, evaluation.sops[t],
                     evaluation.energy(t), evaluation.nonspiking_share(t))
