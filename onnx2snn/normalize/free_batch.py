"""A model exported for batches of exactly one sample (the early model zoo's files) takes any batch size.

Calibration and evaluation run many samples at once. The input's and outputs' first dimension becomes 'N', and
a constant Reshape target that starts with 1 starts with 0 (copy the batch size) instead. Kept only when ONNX
Runtime gives the same outputs for two samples at once as for each alone; otherwise the model is returned as it
was.
"""

import numpy as np
import onnx
from onnx import numpy_helper

from .infer_shapes import infer_shapes

BATCH = "N"


def _first_dim(value):
    dims = value.type.tensor_type.shape.dim
    return dims[0] if dims else None


def _fixed_to_one(values):
    return all((d := _first_dim(v)) is not None and d.HasField("dim_value") and d.dim_value == 1 for v in values)


def _data_inputs(graph):
    initializers = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in initializers]


def _free_reshapes(graph):
    """Every Reshape whose target is a constant [1, ...] (allowzero unset) gets its own target [0, ...]."""
    initializers = {t.name: t for t in graph.initializer}
    for i, node in enumerate(graph.node):
        allowzero = any(a.name == "allowzero" and a.i for a in node.attribute)
        if node.op_type != "Reshape" or allowzero or node.input[1] not in initializers:
            continue
        target = numpy_helper.to_array(initializers[node.input[1]]).copy()
        if target.ndim != 1 or not target.size or target[0] != 1:
            continue
        target[0] = 0
        name = f"{node.input[1]}_any_batch_{i}"
        graph.initializer.append(numpy_helper.from_array(target, name))
        node.input[1] = name


def _outputs(model, x):
    import onnxruntime as ort  # here: loading a file (onnx2snn.load.model) imports this package, not ONNX Runtime

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def _same_per_sample(fixed, free):
    """ONNX Runtime: ``free`` on two random samples equals ``fixed`` on each of them."""
    dims = [d.dim_value for d in _first_dim_shape(fixed)]
    x = np.random.default_rng(0).random((2, *dims[1:]), dtype=np.float32)
    try:
        together = _outputs(free, x)
        alone = [_outputs(fixed, x[i : i + 1]) for i in range(2)]
    except Exception:  # noqa: BLE001  ONNX Runtime refuses the free form: keep the fixed one
        return False
    return all(np.allclose(t, np.concatenate([a[k] for a in alone]), rtol=1e-4, atol=1e-5, equal_nan=True)
               for k, t in enumerate(together))


def _first_dim_shape(model):
    return _data_inputs(model.graph)[0].type.tensor_type.shape.dim


def free_batch(model):
    """The model with batch dimension 'N' when its single float input and its outputs are fixed to batch 1."""
    graph = model.graph
    inputs = _data_inputs(graph)
    if len(inputs) != 1 or not _fixed_to_one(inputs) or not _fixed_to_one(graph.output):
        return model
    if not all(d.HasField("dim_value") and d.dim_value > 0 for d in _first_dim_shape(model)):
        return model
    free = onnx.ModelProto.FromString(model.SerializeToString())
    for value in [*_data_inputs(free.graph), *free.graph.output]:
        _first_dim(value).Clear()
        _first_dim(value).dim_param = BATCH
    del free.graph.value_info[:]
    _free_reshapes(free.graph)
    return infer_shapes(free) if _same_per_sample(model, free) else model
