"""Streaming sums that compare one IF layer's rate code with the ANN's activation at the same site.

The rate code after T steps is the mean of the layer's outputs over steps 1..T (spike count * theta / T). Each
chunk of outputs (steps, samples, ...) is added as it comes, so that memory holds one chunk and one running sum
per chunk of samples, never every activation: sums of squares, products and signed differences at the asked T,
spikes, and per neuron whether it has fired on any sample by each asked T. IF outputs are 0 or theta > 0, so a
neuron has fired by T where its running sum is above 0.
"""

import numpy as np
import torch

# the sums kept per time step T, in this order
FIELDS = ("error2", "ann2", "product", "snn2", "difference", "values", "spikes")


class RateSums:
    """Sums over samples of one site at ``timesteps``. ``theta``: the layer's threshold (one, or one per channel of
    axis 1), to count spikes (outputs are 0 or theta) and silent neurons; None: the error figures only."""

    def __init__(self, timesteps, theta=None):
        self.timesteps = list(timesteps)
        self.sums = {t: np.zeros(len(FIELDS)) for t in self.timesteps}
        self.theta = theta
        self.fired = {}  # T -> per neuron, whether it fired on any sample in steps 1..T
        self.total = None

    def add(self, values, first_step, ann):
        """Outputs ``values`` (steps, samples, ...) at steps first_step + 1..., against the ANN's activation ``ann``
        (samples, ...) of the same samples; a chunk of new samples starts at first_step 0."""
        for k, value in enumerate(values):
            if first_step + k == 0:
                self.total = value.to(torch.float32, copy=True)
            else:
                self.total += value
            if first_step + k + 1 in self.sums:
                self._compare(first_step + k + 1, ann)
            if first_step + k + 1 == self.timesteps[-1]:  # the chunk's sums are done: free its running sum
                self.total = None

    def _compare(self, t, ann):
        rate = self.total / t
        flat, ann_flat = rate.reshape(-1), ann.reshape(-1)
        sums = [torch.dist(rate, ann).square(), ann_flat.dot(ann_flat), flat.dot(ann_flat), flat.dot(flat),
                flat.sum() - ann_flat.sum()]
        spikes = 0.0 if self.theta is None else float((self.total / broadcast(self.theta, ann)).sum())
        self.sums[t] += np.append(torch.stack(sums).double().cpu().numpy(), (ann.numel(), spikes))
        if self.theta is not None:
            fired = (self.total > 0).any(0)
            self.fired[t] = fired if t not in self.fired else self.fired[t] | fired

    def error(self, t):
        """‖snn − ann‖ / ‖ann‖ over every sample and neuron (inf where the ANN is all zero and the SNN is not)."""
        error2, ann2 = self.sums[t][:2]
        return float(np.sqrt(error2 / ann2)) if ann2 else (0.0 if not error2 else float("inf"))

    def figures(self, t):
        """The figures of the site at T=t: error, cosine, bias (mean signed error), firing rate, silent (share
        of neurons that fire on no sample in steps 1..t)."""
        error2, ann2, product, snn2, difference, values, spikes = self.sums[t]
        cosine = product / np.sqrt(ann2 * snn2) if ann2 and snn2 else float(ann2 == snn2)
        figures = {"error": self.error(t), "cosine": float(cosine), "bias": float(difference / values)}
        if self.theta is not None:
            figures["firing_rate"] = float(spikes / (values * t))
            figures["silent"] = float(1 - self.fired[t].double().mean())
        return figures

    def dead_channels(self, active):
        """Channels (axis 0 of a neuron's index) in which no neuron fired by the last T, of those with a neuron
        that the ANN activates (``active``: per neuron, whether the ANN's activation was ever above 0)."""
        fired = self.fired[self.timesteps[-1]].reshape(len(active), -1).any(1)
        active = active.reshape(len(fired), -1).any(1)
        return int((~fired & active).sum()), int(active.sum())


def broadcast(theta, activation):
    """A threshold (one, or one per channel of axis 1) shaped to broadcast against ``activation`` (N, C, ...)."""
    return theta.reshape(-1, *[1] * (activation.dim() - 2)) if theta.numel() > 1 else theta
