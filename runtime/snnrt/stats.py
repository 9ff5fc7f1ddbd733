"""Operation counts of a simulation: ANN MACs, SNN synaptic operations (SOPs), the operations that stay
non-spiking, and an energy estimate.

All counts are per sample. A weight layer (Conv, ConvTranspose, Gemm, MatMul) whose input does not depend
on spikes is counted once per sample as MACs (under direct encoding its input current is the same at every step). A layer
fed by spikes costs one accumulate per non-zero input element and per synapse it fans out to:
``SOPs = sum over steps of nonzero(input) * MACs / numel(input)``.

Non-spiking operations are counted at every step: a weight layer whose input varies in time but is a real value
(an ExpectationCompensation unit's output, or a current no IF neuron turned into spikes) costs all its MACs, and an
ExpectationCompensation unit costs the MACs of the weight layers of its body, one operation per element of the
largest tensor that each other body node (that depends on the unit's inputs and does arithmetic) reads or writes,
and its own running means and increments: two operations per input element and two per output element.

Energy uses the 45 nm figures of Horowitz (ISSCC 2014) that conversion papers quote:
E_MAC = 4.6 pJ, E_AC = 0.9 pJ (32-bit float); every non-spiking operation costs a MAC.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .neuron import in_memory_order, layout
from .ops.compensation import ExpectationCompensation

E_MAC_PJ = 4.6
E_AC_PJ = 0.9
WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# ops that move or copy values without arithmetic: no operations in a compensation unit's count
MOVEMENT_OPS = frozenset("Cast CastLike Concat Constant ConstantOfShape DepthToSpace Expand Flatten Gather GatherND "
                         "Identity Pad Reshape Shape Size Slice SpaceToDepth Split Squeeze Tile Transpose "
                         "Unsqueeze".split())


def layer_macs(op_type, inputs, output):
    """MACs per sample of one weight layer call."""
    return shape_macs(op_type, [tuple(t.shape) for t in inputs], tuple(output.shape))


def shape_macs(op_type, input_shapes, output_shape):
    """MACs per sample of a weight layer, from the shapes of its inputs and of its output."""
    per_sample = math.prod(output_shape[1:]) if len(output_shape) > 1 else math.prod(output_shape)
    if op_type == "Conv":
        return per_sample * math.prod(input_shapes[1][1:])
    if op_type == "ConvTranspose":
        return math.prod(input_shapes[0][1:]) * math.prod(input_shapes[1][1:])
    a, b = input_shapes[0], input_shapes[1]
    inner = math.prod(b) // output_shape[-1] if len(b) == 2 else a[-1]
    return per_sample * inner


@dataclass
class OpCounts:
    """Totals per sample, accumulated over the steps of one run: ``ann_macs``, the MACs of every weight layer
    (those inside compensation units included), ``spiking_macs`` those of the layers that read spikes (whose MACs
    became SOPs), ``static_macs`` those computed once; ``sops_by_step`` and ``nonspiking_by_step``, the SOPs and
    the non-spiking operations done at each step. ``per_layer``: by weight layer and compensation unit, its
    ``macs`` (a unit's: those of its body's weight layers), ``sops`` and ``nonspiking`` operations and whether it
    reads spikes (``spiking_input``)."""

    ann_macs: float = 0.0
    spiking_macs: float = 0.0
    static_macs: float = 0.0
    sops: float = 0.0
    sops_by_step: list = field(default_factory=list)
    nonspiking_by_step: list = field(default_factory=list)
    per_layer: dict = field(default_factory=dict)

    @property
    def nonspiking_ops(self):
        """Every operation that stayed non-spiking, over the whole run."""
        return self.static_macs + sum(self.nonspiking_by_step)


class OpCounter:
    """Forward hooks on the weight layers and compensation units of a GraphModule that fill an OpCounts; use as a
    context.

    Call ``begin(first_step, steps)`` before each graph call (``steps`` time steps folded into the batch,
    starting at ``first_step``), and ``finish(samples)`` at the end to turn totals into per-sample counts.
    """

    def __init__(self, graph, inputs_vary=False):
        self.graph = graph
        self.varying_nodes = graph.folding[inputs_vary].varying_nodes
        self.counts = OpCounts()
        self._handles = []
        self._seen = set()
        self._first_step, self._steps = 0, 1

    def __enter__(self):
        real = _real_values(self.graph, self.varying_nodes)
        for step, (node, layer) in enumerate(zip(self.graph.nodes, self.graph.layers)):
            if node.op_type in WEIGHT_OPS:
                kind = "static" if step not in self.varying_nodes else "real" if node.inputs[0] in real else "spikes"
                self._handles.append(layer.register_forward_hook(self._weight_hook(node.name, kind)))
            elif isinstance(layer, ExpectationCompensation):
                self._watch_unit(node.name, layer)
        return self.counts

    def begin(self, first_step, steps):
        self._first_step, self._steps = first_step, steps
        for by_step in (self.counts.sops_by_step, self.counts.nonspiking_by_step):
            by_step.extend([0.0] * max(0, first_step + steps - len(by_step)))

    def finish(self, samples):
        counts = self.counts
        counts.sops_by_step = [sops / samples for sops in counts.sops_by_step]
        counts.nonspiking_by_step = [ops / samples for ops in counts.nonspiking_by_step]
        counts.sops = sum(counts.sops_by_step)
        for row in counts.per_layer.values():
            row["sops"] /= samples
            row["nonspiking"] /= samples

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()

    def _row(self, name, macs, spiking_input):
        """The per_layer row of ``name``; the first time, its MACs count in the ANN's (and the spiking share)."""
        if name not in self._seen:
            self._seen.add(name)
            self.counts.ann_macs += macs
            self.counts.spiking_macs += macs * spiking_input
        return self.counts.per_layer.setdefault(
            name, {"macs": macs, "sops": 0.0, "nonspiking": 0.0, "spiking_input": spiking_input})

    def _weight_hook(self, name, kind):
        def hook(module, inputs, output):
            macs = layer_macs(module.op_type, inputs, output)
            first_call = name not in self._seen
            row = self._row(name, macs, kind == "spikes")
            x = inputs[0]
            if kind == "static":
                self.counts.static_macs += macs * first_call
                row["nonspiking"] += macs * len(x)
                return
            if kind == "real":
                for t in range(self._steps):
                    self._add_nonspiking(row, self._first_step + t, macs * len(x) // self._steps)
                return
            per_sample = x[0].numel() if x.dim() > 1 else x.numel()
            nonzero = _nonzero_by_row(in_memory_order(x, layout(x)).reshape(self._steps, -1))  # no copy
            for t, count in enumerate(nonzero):
                sops = count * macs / per_sample
                row["sops"] += sops
                self.counts.sops_by_step[self._first_step + t] += sops

        return hook

    def _watch_unit(self, name, unit):
        """Hooks that count a compensation unit's work at the step it is done (the unit's ``done`` steps so far):
        its running means and increments, and the nodes of its body that depend on its inputs."""
        row = self._row(name, 0.0, False)

        def bookkeeping(module, means, output):
            elements = sum(m.numel() for m in means) + output.numel()
            self._add_nonspiking(row, unit.done - 1, 2 * elements)

        body = unit.body
        self._handles.append(body.register_forward_hook(bookkeeping))
        for step in sorted(body.folding[True].varying_nodes):
            node, layer = body.nodes[step], body.layers[step]
            if node.op_type in WEIGHT_OPS:
                self._handles.append(layer.register_forward_hook(self._body_weight_hook(f"{name}/{node.name}", row,
                                                                                        unit)))
            elif node.op_type not in MOVEMENT_OPS:
                self._handles.append(layer.register_forward_hook(self._elementwise_hook(row, unit)))

    def _body_weight_hook(self, name, unit_row, unit):
        def hook(module, inputs, output):
            macs = layer_macs(module.op_type, inputs, output)
            if name not in self._seen:  # the ANN computed it too: its MACs count in the ANN's
                self._seen.add(name)
                self.counts.ann_macs += macs
                unit_row["macs"] += macs
            self._add_nonspiking(unit_row, unit.done - 1, macs * (len(output) if output.dim() > 1 else 1))

        return hook

    def _elementwise_hook(self, row, unit):
        def hook(module, inputs, output):
            tensors = [*inputs, *(output if isinstance(output, (tuple, list)) else (output,))]
            self._add_nonspiking(row, unit.done - 1, max(t.numel() for t in tensors if isinstance(t, torch.Tensor)))

        return hook

    def _add_nonspiking(self, row, step, ops):
        row["nonspiking"] += ops
        self.counts.nonspiking_by_step[step] += ops


def _real_values(graph, varying_nodes):
    """Names of the time-varying values of ``graph`` that are real numbers, not spikes: the outputs of weight layers
    and compensation units, and what is computed from one of them without an IF neuron in between."""
    real = set()
    for step, (node, layer) in enumerate(zip(graph.nodes, graph.layers)):
        if step not in varying_nodes or (hasattr(layer, "reset_state") and getattr(layer, "spiking", True)):
            continue  # an IF neuron's output is spikes
        if (node.op_type in WEIGHT_OPS or isinstance(layer, ExpectationCompensation)
                or any(name in real for name in node.inputs)):
            real.update(node.outputs)
    return real


def _nonzero_by_row(rows):
    """Non-zero elements of each row of a 2-D tensor, as ints. On the CPU numpy counts them: in ad hoc timings (4
    rows of 400,000 spikes, 2 threads) np.count_nonzero took 1.8 to 2.1 ms, torch.count_nonzero along dim 1 8 to
    36 ms (its threads wait on each other on a loaded machine)."""
    if rows.device.type == "cpu":
        return [int(np.count_nonzero(row)) for row in rows.numpy()]
    return torch.count_nonzero(rows, dim=1).tolist()
