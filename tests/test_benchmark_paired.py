"""McNemar's exact test in benchmarks/paired.py, which the accuracy benchmark uses to compare methods."""

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "paired.py"
_spec = importlib.util.spec_from_file_location("paired", _PATH)  # not on sys.path: benchmarks/ has other modules
paired = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paired)
compare, describe, mcnemar = paired.compare, paired.describe, paired.mcnemar


def test_exact_p_values():
    assert mcnemar(0, 0) == 1.0 and mcnemar(4, 4) == 1.0
    assert mcnemar(3, 0) == pytest.approx(0.25)  # 2 * (1/2)**3
    assert mcnemar(0, 3) == mcnemar(3, 0)
    assert mcnemar(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar(8, 2) == pytest.approx(2 * (1 + 10 + 45) / 1024)


def test_compare_counts_only_the_images_where_the_methods_differ():
    only_a, only_b, p = compare(wrong_a=[1, 2, 3], wrong_b=[2, 3, 7, 8, 9])
    assert (only_a, only_b) == (3, 1) and p == pytest.approx(mcnemar(3, 1))
    assert describe(3, 1, 0.625) == "+3 −1 (p 0.62)"
