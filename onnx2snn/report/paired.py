"""Paired comparison of two classifiers on the same test samples: McNemar's exact test.

Two accuracies on the same 1000 images that differ by 0.3 points may come from 3 images that one classifier
gets right and the other wrong, and 0 the other way, or from 30 and 27. Only the samples on which the two
disagree tell them apart: with ``only_a`` samples that only A classifies correctly and ``only_b`` that only B
does, the two-sided exact p-value is the chance that a fair coin over only_a + only_b such samples comes out
at least as unevenly. A small p (below 0.05, say) means the difference is unlikely to be luck of the test set.
``onnx2snn eval --ann`` compares the SNN with its ANN this way at every T; benchmarks/accuracy.py compares
converters.
"""

from math import comb

import numpy as np


def mcnemar(only_a, only_b):
    """Two-sided exact p-value of McNemar's test for ``only_a`` and ``only_b`` discordant samples."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def compare(right_a, right_b):
    """(samples only A gets right, samples only B gets right, p) from two boolean arrays over the same samples
    that say which samples each classifier gets right."""
    right_a, right_b = np.asarray(right_a, bool), np.asarray(right_b, bool)
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    return only_a, only_b, mcnemar(only_a, only_b)


def describe(only_a, only_b, p):
    """A cell such as '+5 −8 (p 0.58)': samples only A gets right, only B gets right, and the p-value."""
    return f"+{only_a} −{only_b} (p {p:.2g})"
