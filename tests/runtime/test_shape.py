"""Shape manipulation ops against onnxruntime."""

import numpy as np
import pytest
from tests.runtime.helpers import check, randn
from onnx import TensorProto, helper

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def _ints(values):
    return np.array(values, dtype=np.int64)


@pytest.mark.parametrize(
    "opset, axis",
    [(1, a) for a in (None, 0, 1, 2, 3, 4)] + [(o, a) for o in (11, 13) for a in (None, 0, 1, 2, 3, 4, -1, -4)],
)  # negative axes are valid from opset 11; axis 4 (the rank) gives (all, 1)
def test_flatten(opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    check(helper.make_node("Flatten", ["x"], ["y"], **attrs), {"x": randn(2, 3, 4, 5)}, opset=opset)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_flatten_empty(axis):
    check(helper.make_node("Flatten", ["x"], ["y"], axis=axis), {"x": randn(0, 3)})


@pytest.mark.parametrize(
    "x_shape, shape",
    [
        ((2, 3, 4), (6, 4)),
        ((2, 3, 4), (-1,)),
        ((2, 3, 4), (0, -1)),
        ((2, 3, 4), (0, 0, 2, 2)),
        ((2, 3, 4), (-1, 0, 2)),
        ((2, 3, 4), (4, 0, -1)),
        ((1, 3), (3,)),
    ],
)
def test_reshape(x_shape, shape):
    check(helper.make_node("Reshape", ["x", "s"], ["y"]), {"x": randn(*x_shape)}, initializers={"s": _ints(shape)})


def test_reshape_runtime_shape():
    check(helper.make_node("Reshape", ["x", "s"], ["y"]), {"x": randn(2, 6), "s": _ints([3, -1])})


@pytest.mark.parametrize(
    "x_shape, shape, allowzero",
    [
        ((2, 3, 4), (0, 12), 0),
        ((2, 3, 4), (2, 12), 1),
        ((0, 3), (3, 0), 1),  # a 0 entry stays 0
        ((0, 3), (0, 3), 1),
        ((0, 3), (0, 3), 0),  # 0 copies the (empty) input dimension
    ],
)
def test_reshape_allowzero(x_shape, shape, allowzero):
    node = helper.make_node("Reshape", ["x", "s"], ["y"], allowzero=allowzero)
    check(node, {"x": randn(*x_shape)}, initializers={"s": _ints(shape)}, opset=14)


def test_reshape_opset_1():
    node = helper.make_node("Reshape", ["x"], ["y"], shape=[0, -1])
    check(node, {"x": randn(2, 3, 4)}, opset=1)


@pytest.mark.parametrize("perm", [None, (0, 1, 2, 3), (0, 2, 3, 1), (3, 2, 1, 0), (1, 0, 3, 2)])
def test_transpose(perm):
    attrs = {} if perm is None else {"perm": list(perm)}
    check(helper.make_node("Transpose", ["x"], ["y"], **attrs), {"x": randn(2, 3, 4, 5)})


@pytest.mark.parametrize("axes", [None, [0], [2], [-1], [0, 2], [-4, -1]])
@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze(axes, opset):
    x = {"x": randn(1, 3, 1, 1)}
    if axes is None:
        check(helper.make_node("Squeeze", ["x"], ["y"]), x, opset=opset)
    elif opset < 13:
        check(helper.make_node("Squeeze", ["x"], ["y"], axes=axes), x, opset=opset)
    else:
        check(helper.make_node("Squeeze", ["x", "a"], ["y"]), x, initializers={"a": _ints(axes)}, opset=opset)


@pytest.mark.parametrize("axes", [[0], [1], [-1], [0, 3], [-1, 0], [1, -2]])
@pytest.mark.parametrize("opset", [11, 13])
def test_unsqueeze(axes, opset):
    x = {"x": randn(2, 3)}
    if opset < 13:
        check(helper.make_node("Unsqueeze", ["x"], ["y"], axes=axes), x, opset=opset)
    else:
        check(helper.make_node("Unsqueeze", ["x", "a"], ["y"]), x, initializers={"a": _ints(axes)}, opset=opset)


def test_unsqueeze_scalar():
    check(helper.make_node("Unsqueeze", ["x", "a"], ["y"]), {"x": np.float32(3.0)}, initializers={"a": _ints([0])})


SLICES = [
    # starts, ends, axes, steps
    ([1], [3], None, None),
    ([0, 1], [2, -1], [0, 2], None),
    ([-3], [INT64_MAX], [1], None),
    ([1], [100], [2], None),  # clamped end
    ([-100], [2], [2], None),  # clamped start
    ([0, 0], [INT64_MAX, INT64_MAX], [-1, -2], [2, 3]),
    ([-1], [INT64_MIN], [2], [-1]),  # reverse the whole axis
    ([4], [0], [2], [-2]),
    ([100], [-100], [1], [-1]),  # clamped, negative step
    ([2], [-5], [0], [-1]),
    ([3], [1], [1], [1]),  # empty
    ([1, -1], [2, -INT64_MAX], [0, 1], [1, -2]),
    ([-100], [-100], [2], [-1]),  # stepping back, a start before the axis clamps to its first element
    ([-100], [-1], [2], [-3]),  # ... and gives an empty range when the end lies after it
    ([3], [INT64_MAX], [2], [-1]),  # onnxruntime: INT64_MAX ends mean 'to the end' in either direction
    ([10], [INT64_MAX], [1], [-2]),
    ([2], [2**31 - 1], [0], [-1]),  # and so does INT32_MAX
]


@pytest.mark.parametrize("starts, ends, axes, steps", SLICES)
def test_slice(starts, ends, axes, steps):
    init = {"starts": _ints(starts), "ends": _ints(ends)}
    names = ["x", "starts", "ends"]
    if axes is not None or steps is not None:
        init["axes"] = _ints(axes if axes is not None else range(len(starts)))
        names.append("axes")
    if steps is not None:
        init["steps"] = _ints(steps)
        names.append("steps")
    check(helper.make_node("Slice", names, ["y"]), {"x": randn(3, 4, 6)}, initializers=init, opset=13)


def test_slice_runtime_inputs():
    inputs = {"x": randn(3, 4, 6), "s": _ints([1, -1]), "e": _ints([3, 0]), "a": _ints([0, 2]), "t": _ints([1, -2])}
    check(helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]), inputs, opset=13)


@pytest.mark.parametrize("starts, ends, axes, steps", [s for s in SLICES if s[3] is None])
def test_slice_opset_9(starts, ends, axes, steps):
    attrs = {"starts": starts, "ends": ends}
    if axes is not None:
        attrs["axes"] = axes
    check(helper.make_node("Slice", ["x"], ["y"], **attrs), {"x": randn(3, 4, 6)}, opset=9)


@pytest.mark.parametrize(
    "indices, axis",
    [
        (np.int64(1), 0),
        (np.int64(-1), 1),
        (_ints([0, 2]), 0),
        (_ints([-1, 0, 1]), 1),
        (_ints([[0, 1], [-2, 2]]), 1),
        (_ints([3, -4]), -1),
        (np.array([1, 0], dtype=np.int32), 2),
    ],
)
def test_gather(indices, axis):
    node = helper.make_node("Gather", ["x", "i"], ["y"], axis=axis)
    check(node, {"x": randn(3, 4, 5)}, initializers={"i": indices})


def test_gather_runtime_indices():
    check(helper.make_node("Gather", ["x", "i"], ["y"], axis=1), {"x": randn(3, 4), "i": _ints([[3], [-3]])})


@pytest.mark.parametrize(
    "x_shape, indices, batch_dims",
    [
        ((3, 4, 5), _ints([[0, 1], [2, -1]]), 0),  # whole index tuples: elements
        ((3, 4, 5), _ints([[[1], [-3]], [[0], [2]]]), 0),  # one axis: rows of (4, 5)
        # as torch's dynamo exporter writes adaptive pooling of a 2x2 map to 6x6 (spatial axes first)
        ((2, 2, 3, 4), np.stack(np.meshgrid(np.arange(6) // 3, np.arange(6) // 3, indexing="ij"), -1)[:, None, :, None],
         0),
        ((2, 3, 4), _ints([[[1], [0]], [[2], [2]]]), 1),  # batch_dims: the first axis shared
        ((2, 3, 4, 5), _ints([[[1, 2]], [[0, -1]]]), 1),
    ],
)
def test_gather_nd(x_shape, indices, batch_dims):
    check(helper.make_node("GatherND", ["x", "i"], ["y"], batch_dims=batch_dims), {"x": randn(*x_shape)},
          initializers={"i": indices})


def test_gather_nd_runtime_indices():
    check(helper.make_node("GatherND", ["x", "i"], ["y"]), {"x": randn(3, 4), "i": _ints([[2, 3], [-1, 0]])})


@pytest.mark.parametrize("start, end", [(None, None), (1, None), (None, -1), (-3, 3), (0, 100), (-100, 2), (3, 1)])
def test_shape(start, end):
    attrs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    check(helper.make_node("Shape", ["x"], ["y"], **attrs), {"x": randn(2, 3, 4, 5)}, opset=15 if attrs else 13)


def test_shape_gather_concat_chain():
    """The dynamic-batch pattern that exporters write before a Reshape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    init = {"zero": np.int64(0), "axes": _ints([0]), "minus_one": _ints([-1])}
    check(nodes, {"x": randn(2, 3, 4)}, initializers=init)


def test_size():
    check(helper.make_node("Size", ["x"], ["y"]), {"x": randn(2, 3, 4)})


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_concat(axis):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for i, s in enumerate(shapes):
        s[axis] = i + 1
    inputs = {f"x{i}": randn(*s, seed=i) for i, s in enumerate(shapes)}
    check(helper.make_node("Concat", list(inputs), ["y"], axis=axis), inputs)


@pytest.mark.parametrize(
    "x, to",
    [
        (randn(2, 3) * 3, TensorProto.INT64),
        (randn(2, 3) * 3, TensorProto.INT32),
        (randn(2, 3), TensorProto.DOUBLE),
        (randn(2, 3), TensorProto.BOOL),
        (np.array([0, 1, -2], dtype=np.int64), TensorProto.FLOAT),
        (np.array([0, 1, -2], dtype=np.int64), TensorProto.BOOL),
        (np.array([True, False]), TensorProto.FLOAT),
    ],
)
def test_cast(x, to):
    check(helper.make_node("Cast", ["x"], ["y"], to=to), {"x": x})


@pytest.mark.parametrize(
    "value",
    [None, np.array([2.5], dtype=np.float32), np.array([7], dtype=np.int64), np.array([1], dtype=np.int32)],
)
@pytest.mark.parametrize("shape", [(2, 3), (4,), (0,), ()])
def test_constant_of_shape(value, shape):
    attrs = {} if value is None else {"value": helper.make_tensor("v", helper.np_dtype_to_tensor_dtype(value.dtype),
                                                                    [1], value)}
    check(helper.make_node("ConstantOfShape", ["s"], ["y"], **attrs), {"s": _ints(shape)})


@pytest.mark.parametrize(
    "start, limit, delta",
    [
        (np.float32(0), np.float32(5), np.float32(1)),
        (np.float32(1), np.float32(2), np.float32(0.3)),
        (np.float32(5), np.float32(-1), np.float32(-1.5)),
        (np.int64(0), np.int64(10), np.int64(3)),
        (np.int64(10), np.int64(0), np.int64(-4)),
        (np.int32(2), np.int32(2), np.int32(1)),
        (np.float32(2.1), np.float32(-1.8), np.float32(1)),  # delta points away: empty
        (np.int64(0), np.int64(5), np.int64(-1)),
        (np.float32(-0.15), np.float32(1.1), np.float32(0.25)),  # the count is taken in float64: 6, not 5
        (np.float32(-0.1), np.float32(1.0), np.float32(0.1)),
    ],
)
def test_range(start, limit, delta):
    check(helper.make_node("Range", ["a", "b", "c"], ["y"]), {"a": start, "b": limit, "c": delta})


@pytest.mark.parametrize(
    "x_shape, shape",
    [
        ((3, 1), (3, 4)),
        ((3, 1), (2, 3, 4)),
        ((3, 1), (4,)),  # broadcasting goes both ways
        ((1, 3, 1), (2, 1, 1)),
        ((2, 3), (1, 1)),
        ((3,), (2, 1)),
    ],
)
def test_expand(x_shape, shape):
    check(helper.make_node("Expand", ["x", "s"], ["y"]), {"x": randn(*x_shape)}, initializers={"s": _ints(shape)})


@pytest.mark.parametrize(
    "axis, split, outputs",
    [
        (0, None, 2),
        (1, None, 3),
        (-1, None, 2),
        (1, [1, 2, 3], 3),
        (2, [2, 2], 2),
        (-2, [6], 1),
    ],
)
@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split(axis, split, outputs, opset):
    names = [f"y{i}" for i in range(outputs)]
    x = {"x": randn(2, 6, 4)}
    attrs = {"axis": axis}
    if split is None:
        if opset >= 18:
            attrs["num_outputs"] = outputs
        check(helper.make_node("Split", ["x"], names, **attrs), x, outputs=names, opset=opset)
    elif opset < 13:
        check(helper.make_node("Split", ["x"], names, split=split, **attrs), x, outputs=names, opset=opset)
    else:
        node = helper.make_node("Split", ["x", "split"], names, **attrs)
        check(node, x, outputs=names, initializers={"split": _ints(split)}, opset=opset)


def test_split_uneven_num_outputs():
    """Opset 18: with num_outputs that does not divide the axis, the last chunk is smaller."""
    names = ["y0", "y1", "y2"]
    check(helper.make_node("Split", ["x"], names, axis=1, num_outputs=3), {"x": randn(2, 7)}, outputs=names, opset=18)


def test_identity_and_dropout():
    nodes = [helper.make_node("Identity", ["x"], ["h"]), helper.make_node("Dropout", ["h"], ["y"])]
    check(nodes, {"x": randn(2, 3)}, opset=13)
