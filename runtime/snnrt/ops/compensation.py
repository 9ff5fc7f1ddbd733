"""ExpectationCompensation (snnrt.contract): f of the running means of the inputs, emitted as the increment of
t * f(means), so that the mean of the outputs is f of the means of the inputs at every step."""

import torch

from .. import contract
from ..registry import register
from ..validate import compensation_body
from .spiking import SpikingLayer


class ExpectationCompensation(SpikingLayer):
    """Keeps the running sum of each input and the last t * f(means). Not a spiking layer: ``spiking`` is False,
    so that firing rates and spike counts leave it out."""

    spiking = False

    def __init__(self, body, opset):
        from ..graph import GraphModule

        super().__init__()
        self.body = GraphModule(body, opsets={"": opset})

    def reset_membrane(self):
        self.totals = None
        self.done = 0
        self.previous = None

    def forward_sequence(self, x, steps, constant_in_time=False, into_input=False, more=()):
        """As SpikingLayer's, for the first input ``x``; ``more``: (value, constant_in_time) of the further
        inputs, in the node's order (a product's second factor)."""
        inputs = [(x, constant_in_time), *more]
        per_step = [v.expand(steps, *v.shape) if constant else v.reshape(steps, -1, *v.shape[1:])
                    for v, constant in inputs]
        out = []
        for t in range(steps):  # one step at a time: the body may treat the batch axis as it likes
            if self.totals is None:
                self.totals = [v[t].clone() for v in per_step]
            else:
                self.totals = [total + v[t] for total, v in zip(self.totals, per_step)]
            self.done += 1
            # a module call, not body.run, so that forward hooks on the body see every step (snnrt.stats)
            current = self.body(*(total / self.done for total in self.totals)) * self.done
            out.append(current if self.previous is None else current - self.previous)
            self.previous = current
        return torch.stack(out).flatten(0, 1)


@register(contract.COMPENSATION_OP, 1, domain=contract.DOMAIN)
def convert_compensation(node):
    return ExpectationCompensation(compensation_body(node.proto), node.attr(contract.ATTR_BODY_OPSET, contract.BODY_OPSET))
