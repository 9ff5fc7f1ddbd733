"""ExpectationCompensation (snnrt.contract): f of the running mean of the input, emitted as the increment of
t * f(mean), so that the mean of the outputs is f of the mean of the inputs at every step."""

import torch

from .. import contract
from ..registry import register
from ..validate import compensation_body
from .spiking import SpikingLayer


class ExpectationCompensation(SpikingLayer):
    """Keeps the running sum of its input and the last t * f(mean). Not a spiking layer: ``spiking`` is False,
    so that firing rates and spike counts leave it out."""

    spiking = False

    def __init__(self, body, opset):
        from ..graph import GraphModule

        super().__init__()
        self.body = GraphModule(body, opsets={"": opset})

    def reset_membrane(self):
        self.total = None
        self.done = 0
        self.previous = None

    def forward_sequence(self, x, steps, constant_in_time=False, into_input=False):
        xs = x.expand(steps, *x.shape) if constant_in_time else x.reshape(steps, -1, *x.shape[1:])
        out = []
        for t in range(steps):  # one step at a time: the body may treat the batch axis as it likes
            self.total = xs[t].clone() if self.total is None else self.total + xs[t]
            self.done += 1
            outputs, _ = self.body.run(self.total / self.done)
            current = outputs[0] * self.done
            out.append(current if self.previous is None else current - self.previous)
            self.previous = current
        return torch.stack(out).flatten(0, 1)


@register(contract.COMPENSATION_OP, 1, domain=contract.DOMAIN)
def convert_compensation(node):
    return ExpectationCompensation(compensation_body(node.proto), node.attr(contract.ATTR_BODY_OPSET, 17))
