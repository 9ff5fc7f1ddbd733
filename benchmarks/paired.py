"""Paired comparison of two classifiers on the same test images: McNemar's exact test.

Two accuracies on the same 1000 images that differ by 0.3 points may come from 3 images that one method
gets right and the other wrong, and 0 the other way, or from 30 and 27. Only the images on which the two
disagree tell them apart: with ``only_a`` images that only A classifies correctly and ``only_b`` that only B
does, the two-sided exact p-value is the chance that a fair coin over only_a + only_b such images comes out
at least as unevenly. A small p (below 0.05, say) means the difference is unlikely to be luck of the test set.
"""

from math import comb


def mcnemar(only_a, only_b):
    """Two-sided exact p-value of McNemar's test for ``only_a`` and ``only_b`` discordant images."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def compare(wrong_a, wrong_b):
    """(only A right, only B right, p) from the sets of test-image indices that A and B get wrong."""
    wrong_a, wrong_b = set(wrong_a), set(wrong_b)
    only_a, only_b = len(wrong_b - wrong_a), len(wrong_a - wrong_b)
    return only_a, only_b, mcnemar(only_a, only_b)


def describe(only_a, only_b, p):
    """A cell such as '+5 −8 (p 0.58)': images only A gets right, only B gets right, and the p-value."""
    return f"+{only_a} −{only_b} (p {p:.2g})"
