"""Broadcasting arithmetic, comparisons and unary maths."""

import functools

import torch

from ..registry import register
from .common import Op


def _div(a, b):
    if a.dtype.is_floating_point or b.dtype.is_floating_point:
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


_BINARY = {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Div": _div,
    "Pow": torch.pow,
    "Equal": torch.eq,
    "Less": torch.lt,
    "Greater": torch.gt,
    "LessOrEqual": torch.le,
    "GreaterOrEqual": torch.ge,
}
_UNARY = {
    "Neg": torch.neg,
    "Abs": torch.abs,
    "Sqrt": torch.sqrt,
    "Exp": torch.exp,
    "Log": torch.log,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Round": torch.round,
    "Reciprocal": torch.reciprocal,
    "Not": torch.logical_not,
}
_VARIADIC = {"Sum": torch.add, "Max": torch.maximum, "Min": torch.minimum}


def _binary(op_type):
    fn = _BINARY[op_type]

    def convert(node):
        if node.opset < 7 and node.attr("broadcast", 0) and "axis" in node.attrs:
            raise NotImplementedError("legacy broadcast with an axis attribute (opset < 7)")
        return Op(op_type, fn)

    convert.__name__ = f"convert_{op_type.lower()}"
    return convert


def _unary(op_type):
    def convert(node):
        return Op(op_type, _UNARY[op_type])

    convert.__name__ = f"convert_{op_type.lower()}"
    return convert


def _variadic(op_type):
    fn = _VARIADIC[op_type]

    def convert(node):
        return Op(op_type, lambda *xs: functools.reduce(fn, xs))

    convert.__name__ = f"convert_{op_type.lower()}"
    return convert


for _name in _BINARY:
    register(_name, 1)(_binary(_name))
for _name in _UNARY:
    register(_name, 1)(_unary(_name))
for _name in _VARIADIC:
    register(_name, 1)(_variadic(_name))


@register("Mean", 1)
def convert_mean(node):
    return Op("Mean", lambda *xs: functools.reduce(torch.add, xs) / len(xs))


@register("Where", 9)
def convert_where(node):
    return Op("Where", torch.where)


@register("Mod", 10)
def convert_mod(node):
    """fmod=0: the remainder takes the divisor's sign (integers); fmod=1: the dividend's (C fmod)."""
    return Op("Mod", torch.fmod if node.attr("fmod", 0) else torch.remainder)
