"""If: run the branch that the boolean condition selects (exporters write it for squeezes of dynamic dims)."""

import torch

from ..registry import register


class IfOp(torch.nn.Module):
    """``forward(cond, *scope)``: the chosen branch's outputs; scope holds the values the branches read."""

    def __init__(self, node):
        super().__init__()
        from ..graph import GraphModule

        opsets = {"": node.opset}
        self.then_branch = GraphModule(node.attr("then_branch"), opsets=opsets)
        self.else_branch = GraphModule(node.attr("else_branch"), opsets=opsets)
        self.scope_names = node.inputs[node.declared_inputs :]

    def forward(self, cond, *scope):
        branch = self.then_branch if bool(cond.reshape(-1)[0]) else self.else_branch
        outputs, _ = branch.run(outer=dict(zip(self.scope_names, scope)))
        return tuple(outputs)


@register("If", 1)
def convert_if(node):
    return IfOp(node)
