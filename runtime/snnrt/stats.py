"""Operation counts of a simulation: ANN MACs, SNN synaptic operations (SOPs) and an energy estimate.

All counts are per sample. A weight layer (Conv, ConvTranspose, Gemm, MatMul) whose input does not depend
on spikes is counted once per sample as MACs (under direct encoding its input current is the same at every step). A layer
fed by spikes costs one accumulate per non-zero input element and per synapse it fans out to:
``SOPs = sum over steps of nonzero(input) * MACs / numel(input)``.

Energy uses the 45 nm figures of Horowitz (ISSCC 2014) that conversion papers quote:
E_MAC = 4.6 pJ, E_AC = 0.9 pJ (32-bit float).
"""

import math
from dataclasses import dataclass, field

import numpy as np
import torch

E_MAC_PJ = 4.6
E_AC_PJ = 0.9
WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


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
    """Totals per sample, accumulated over the steps of one run."""

    ann_macs: float = 0.0
    static_macs: float = 0.0
    sops: float = 0.0
    sops_by_step: list = field(default_factory=list)
    per_layer: dict = field(default_factory=dict)


class OpCounter:
    """Forward hooks on the weight layers of a GraphModule that fill an OpCounts; use as a context.

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
        for step, (node, layer) in enumerate(zip(self.graph.nodes, self.graph.layers)):
            if node.op_type in WEIGHT_OPS:
                varying = step in self.varying_nodes
                self._handles.append(layer.register_forward_hook(self._hook(node.name, varying)))
        return self.counts

    def begin(self, first_step, steps):
        self._first_step, self._steps = first_step, steps
        missing = first_step + steps - len(self.counts.sops_by_step)
        self.counts.sops_by_step.extend([0.0] * max(0, missing))

    def finish(self, samples):
        counts = self.counts
        counts.sops_by_step = [sops / samples for sops in counts.sops_by_step]
        counts.sops = sum(counts.sops_by_step)
        for row in counts.per_layer.values():
            row["sops"] /= samples

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()

    def _hook(self, name, varying):
        def hook(module, inputs, output):
            macs = layer_macs(module.op_type, inputs, output)
            first_call = name not in self._seen
            self._seen.add(name)
            row = self.counts.per_layer.setdefault(name, {"macs": macs, "sops": 0.0, "spiking_input": varying})
            if first_call:
                self.counts.ann_macs += macs
            if not varying:
                if first_call:
                    self.counts.static_macs += macs
                return
            x = inputs[0]
            per_sample = x[0].numel() if x.dim() > 1 else x.numel()
            nonzero = _nonzero_by_row(x.reshape(self._steps, -1))
            for t, count in enumerate(nonzero):
                sops = count * macs / per_sample
                row["sops"] += sops
                self.counts.sops_by_step[self._first_step + t] += sops

        return hook


def _nonzero_by_row(rows):
    """Non-zero elements of each row of a 2-D tensor, as ints. On the CPU numpy counts them: in ad hoc timings (4
    rows of 400,000 spikes, 2 threads) np.count_nonzero took 1.8 to 2.1 ms, torch.count_nonzero along dim 1 8 to
    36 ms (its threads wait on each other on a loaded machine)."""
    if rows.device.type == "cpu":
        return [int(np.count_nonzero(row)) for row in rows.numpy()]
    return torch.count_nonzero(rows, dim=1).tolist()
