"""Normalization: a pipeline of small passes that turns what an exporter wrote into a clean ANN graph.

Each pass is a function ``model -> model`` in its own module. The result computes the same function
(checked in the tests with ONNX Runtime before and after).
"""

import os
from dataclasses import dataclass, field

from ..errors import ModelLoadError

from .canonicalize_flatten import canonicalize_flatten
from .canonicalize_gemm import canonicalize_gemm
from .canonicalize_sum import canonicalize_sum
from .drop_input_initializers import drop_input_initializers
from .drop_label_outputs import drop_label_outputs
from .fold_affine import fold_affine
from .fold_batchnorm import fold_batchnorm
from .fold_constants import fold_constants
from .free_batch import free_batch
from .infer_shapes import infer_shapes
from .name_nodes import name_nodes
from .remove_noops import remove_noops
from .split_negative_slopes import split_negative_slopes
from .upgrade_opset import TARGET_OPSET, upgrade_opset

PASSES = (
    drop_input_initializers,
    drop_label_outputs,
    name_nodes,
    upgrade_opset,
    infer_shapes,
    fold_constants,
    free_batch,
    canonicalize_sum,
    remove_noops,
    canonicalize_gemm,
    canonicalize_flatten,
    fold_batchnorm,
    fold_affine,
    split_negative_slopes,
    fold_constants,
    name_nodes,
    infer_shapes,
)


@dataclass
class NormalizeReport:
    """Node counts after each pass, for the user and for debugging."""

    steps: list = field(default_factory=list)

    def add(self, name, model):
        self.steps.append((name, len(model.graph.node)))


def normalize(model, passes=PASSES, source=None):
    """Run the normalization passes on an ``onnx.ModelProto``; returns (model, NormalizeReport). ``source``: the
    file the model came from (a path), named in the error of a model that cannot be normalized."""
    report = NormalizeReport()
    report.add("input", model)
    for run in passes:
        try:
            model = run(model)
        except ModelLoadError as exc:
            if isinstance(source, (str, os.PathLike)):
                raise ModelLoadError(f"{os.fspath(source)}: {exc}") from exc
            raise
        report.add(run.__name__, model)
    return model, report


__all__ = ["normalize", "NormalizeReport", "PASSES", "TARGET_OPSET"]
