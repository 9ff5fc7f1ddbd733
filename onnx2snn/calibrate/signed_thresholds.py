"""Thresholds of the signed IF neurons (onnx2snn.sites.signed_sites): a percentile of |x|, the value each one turns
into spikes, on calibration data, per channel (axis 1, or the last axis of a (N, tokens, features) value, the axis that
LayerNorm normalizes).

SIGNED_PERCENTILE and SIGNED_LEVELS were chosen on the nets of models/modern/ (the only trained nets with such
neurons), so they are not held-out figures; docs/conversion.md gives the comparison.
"""

from dataclasses import dataclass

SIGNED_PERCENTILE = 99.99
SIGNED_LEVELS = 4
V_INIT_FRACTION = 0.5  # the start theta / 2: the membrane's distance from its rounding point starts at 0


@dataclass(frozen=True)
class SignedSpec:
    """How the signed neurons are set: the percentile of |x| that sets theta, the number of spike sizes
    theta * 2^-k (snnrt.contract) and whether theta is per channel."""

    percentile: float = SIGNED_PERCENTILE
    levels: int = SIGNED_LEVELS
    per_channel: bool = True

    def describe(self):
        scope = "per channel" if self.per_channel else "per layer"
        return f"percentile {self.percentile:g} of |x| {scope}, {self.levels} spike sizes theta*2^-k"


def channel_axis(rank):
    """The axis that the thresholds of a value of ``rank`` run along: the last of a (N, tokens, features) value,
    else axis 1."""
    return -1 if rank == 3 else 1


def signed_statistic(hist, spec):
    """(per-channel values, the layer's value) of the percentile of ``spec`` from the StreamingHistogram of a signed
    site's |x| rows; onnx2snn.calibrate.thresholds makes them a Threshold."""
    return hist.percentile(spec.percentile), float(hist.merged().percentile(spec.percentile)[0])


def signed_source(spec, channels):
    """The words for where a signed site's thresholds came from."""
    return f"percentile {spec.percentile:g} of |x|" + " per channel" * (spec.per_channel and channels > 1)
