"""StreamingHistogram: percentiles like numpy's within one bin, bounded memory, range growth."""

import numpy as np
import pytest

from onnx2snn.calibrate.histogram import StreamingHistogram


@pytest.mark.parametrize("q", [50.0, 99.0, 99.9, 99.99, 100.0])
def test_percentiles_match_numpy_within_one_bin(q):
    rng = np.random.default_rng(0)
    values = np.maximum(rng.normal(size=(3000, 8)) * rng.uniform(1, 20, 8), 0)
    hist = StreamingHistogram(8)
    for start in range(0, len(values), 256):
        hist.update(values[start : start + 256].T)
    width = hist.hi / hist.bins
    np.testing.assert_allclose(hist.percentile(q), np.percentile(values, q, axis=0), atol=width)
    assert hist.merged().percentile(q)[0] == pytest.approx(np.percentile(values, q), abs=width)


def test_range_doubles_when_a_later_batch_is_larger_and_memory_stays_fixed():
    hist = StreamingHistogram(2, bins=64)
    hist.update(np.array([[0.5, 1.0], [0.1, 0.2]]))
    first_hi = hist.hi
    hist.update(np.array([[100.0, 3.0], [7.0, 0.0]]))
    assert hist.hi >= 100.0 and hist.hi / first_hi in (2.0**k for k in range(1, 10))
    assert hist.counts.shape == (2, 64) and hist.counts.sum() == 8
    np.testing.assert_array_equal(hist.maximum, [100.0, 7.0])
    assert hist.percentile(100)[0] == pytest.approx(100.0)


def test_channel_without_data_gives_zero():
    hist = StreamingHistogram(2)
    hist.update(np.zeros((2, 0)))
    np.testing.assert_array_equal(hist.percentile(99), [0.0, 0.0])


def test_odd_bin_count_is_refused():
    with pytest.raises(ValueError, match="even"):
        StreamingHistogram(1, bins=7)


def test_quantization_optimal_threshold_minimizes_rate_coding_error():
    rng = np.random.default_rng(2)
    values = np.maximum(rng.exponential(1.0, size=20000) - 0.3, 0)
    hist = StreamingHistogram(1)
    hist.update(values[None])
    steps = (1, 2, 4)
    theta = hist.quantization_optimal(steps)[0]

    def error(t_hat):
        return sum(np.mean((t_hat / t * np.clip(np.round(values * t / t_hat), 0, t) - values) ** 2) for t in steps)

    assert 0 < theta < values.max()
    for other in (0.5 * theta, 0.8 * theta, 1.25 * theta, 2 * theta, values.max()):
        assert error(theta) <= error(other) * 1.01


def test_share_from_a_value_counts_its_bin_and_above_per_channel():
    hist = StreamingHistogram(2, bins=8)
    hist.update(np.array([[0, 1, 2, 3, 6, 6, 6, 6.0], [0, 0, 0, 0, 0, 0, 0, 6.0]]))
    np.testing.assert_allclose(hist.share_from(6.0), [0.5, 0.125])
    np.testing.assert_allclose(hist.share_from(np.array([6.0, 0.1])), [0.5, 1.0])
    np.testing.assert_allclose(hist.share_from(100.0), [0.0, 0.0])
    np.testing.assert_allclose(StreamingHistogram(1, bins=8).share_from(1.0), [0.0])
