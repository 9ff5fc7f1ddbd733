"""Streaming statistics of non-negative activations with bounded memory: max and percentiles.

A fixed number of bins covers [0, hi); when a batch exceeds hi the range doubles and neighbouring bins
merge pairwise (exact), so memory stays ``channels x bins`` whatever the amount of data.
"""

import numpy as np

BINS = 4096


class StreamingHistogram:
    """Per-channel (or, with channels=1, per-layer) histogram of the values seen so far."""

    def __init__(self, channels=1, bins=BINS):
        if bins % 2:
            raise ValueError("bins must be even")
        self.bins = bins
        self.counts = np.zeros((channels, bins), dtype=np.int64)
        self.maximum = np.zeros(channels)
        self.hi = None
        self.start = None  # the first range: the top of the first values (onnx2snn.distributed merges by it)

    def start_range(self, values):
        """Set the first range from the values (channels, n) that come first, unless it is set."""
        if self.hi is None:
            top = float(np.max(values, initial=0.0))
            self.hi = self.start = top if top > 0 else 1.0

    def double_range(self):
        """Double the range, merging neighbouring bins pairwise (exact)."""
        self.counts = self.counts.reshape(len(self.counts), self.bins // 2, 2).sum(axis=2)
        self.counts = np.concatenate([self.counts, np.zeros_like(self.counts)], axis=1)
        self.hi *= 2

    def update(self, values):
        """Add values shaped (channels, n); negative values count in the first bin."""
        values = np.asarray(values, dtype=np.float64)
        batch_max = values.max(axis=1) if values.shape[1] else np.zeros(len(values))
        self.maximum = np.maximum(self.maximum, batch_max)
        top = float(batch_max.max(initial=0.0))
        self.start_range(values)
        while top >= self.hi:
            self.double_range()
        index = np.clip((values / self.hi * self.bins).astype(np.int64), 0, self.bins - 1)
        for channel in range(len(values)):
            self.counts[channel] += np.bincount(index[channel], minlength=self.bins)

    def merged(self):
        """A one-channel histogram of all channels together."""
        layer = StreamingHistogram(1, self.bins)
        layer.counts = self.counts.sum(axis=0, keepdims=True)
        layer.maximum = self.maximum.max(keepdims=True)
        layer.hi, layer.start = self.hi, self.start
        return layer

    def percentile(self, q):
        """The q-th percentile (0..100) per channel of all values seen (zeros included, as SpikingJelly
        and Rueckauer et al. count them), interpolated between order statistics like numpy.percentile:
        rank r = q/100 * (n - 1). A value inside a bin is placed linearly by its rank within the bin.
        A channel with no data gets 0."""
        result = np.zeros(len(self.counts))
        width = self.hi / self.bins if self.hi else 0.0
        for channel, row in enumerate(self.counts):
            total = int(row.sum())
            if total == 0:
                continue
            cumulative = np.cumsum(row)
            rank = q / 100.0 * (total - 1)
            low = int(np.floor(rank))
            high = min(low + 1, total - 1)
            values = [self._order_statistic(row, cumulative, k, width) for k in (low, high)]
            value = values[0] + (rank - low) * (values[1] - values[0])
            result[channel] = min(value, self.maximum[channel])
        return result

    def share_from(self, values):
        """Per channel, the share of all values seen that lie in the bin of ``values`` (one for every channel, or
        one per channel) or above: 0 for a channel with no data, or whose value is above every bin."""
        first = np.broadcast_to(np.asarray(values, dtype=np.float64) / (self.hi or np.inf) * self.bins,
                                (len(self.counts),)).astype(np.int64)
        columns = np.arange(self.bins)[None, :]
        above = np.where(columns >= first[:, None], self.counts, 0).sum(axis=1)
        total = self.counts.sum(axis=1)
        return np.divide(above, total, out=np.zeros(len(total)), where=total > 0)

    def quantization_optimal(self, timesteps, candidates=64):
        """Per channel, the threshold theta minimizing the squared error of T-step rate coding,
        summed over ``timesteps``: sum_T E[(theta/T * clip(round(a T / theta), 0, T) - a)^2].

        This is the error of an IF neuron with v(0) = theta/2 on a constant input a after T steps;
        candidates are geometrically spaced between 1% and 100% of the channel's maximum.
        """
        width = self.hi / self.bins if self.hi else 0.0
        centers = (np.arange(self.bins) + 0.5) * width
        result = np.zeros(len(self.counts))
        for channel, row in enumerate(self.counts):
            if self.maximum[channel] <= 0:
                continue
            used = row > 0
            a, weight = centers[used], row[used]
            thetas = self.maximum[channel] * np.geomspace(0.01, 1.0, candidates)[:, None]
            error = np.zeros(candidates)
            for t in timesteps:
                q = thetas / t * np.clip(np.round(a * t / thetas), 0, t)
                error += ((q - a) ** 2 * weight).sum(axis=1)
            result[channel] = thetas[int(np.argmin(error)), 0]
        return result

    @staticmethod
    def _order_statistic(row, cumulative, k, width):
        """Estimate of the k-th smallest value (0-based) from the bin counts."""
        b = int(np.searchsorted(cumulative, k, side="right"))
        below = cumulative[b - 1] if b else 0
        return (b + (k - below + 0.5) / row[b]) * width
