"""McNemar's exact test (onnx2snn.report.paired), with which `eval --ann` and the accuracy benchmark compare
classifiers sample by sample."""

import numpy as np
import pytest

from onnx2snn.report.paired import compare, describe, mcnemar


def test_exact_p_values():
    assert mcnemar(0, 0) == 1.0 and mcnemar(4, 4) == 1.0
    assert mcnemar(3, 0) == pytest.approx(0.25)  # 2 * (1/2)**3
    assert mcnemar(0, 3) == mcnemar(3, 0)
    assert mcnemar(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar(8, 2) == pytest.approx(2 * (1 + 10 + 45) / 1024)


def test_compare_counts_only_the_samples_where_the_classifiers_differ():
    right_a = np.array([1, 0, 0, 0, 1, 1, 1, 1, 1, 1], bool)
    right_b = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0], bool)
    only_a, only_b, p = compare(right_a, right_b)
    assert (only_a, only_b) == (4, 1) and p == pytest.approx(mcnemar(4, 1))
    assert describe(3, 1, 0.625) == "+3 −1 (p 0.62)"
