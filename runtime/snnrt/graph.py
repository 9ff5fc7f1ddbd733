"""Execute an ONNX graph with torch: one converter module per node, run in topological order."""

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from . import ops  # noqa: F401  (registers the converters)
from .batch_axis import declared_ranks
from .errors import RuntimeInputError, UnsupportedOpError
from .folding import folding_plan
from .node import OnnxNode, constant_node_value
from .precision import full_float32
from .registry import ONNX_DOMAIN, REGISTRY
from .validate import check_spiking_nodes


def opset_versions(model):
    """{domain: version} of a ModelProto's opset imports, 'ai.onnx' read as the default domain."""
    return {(o.domain if o.domain != "ai.onnx" else ONNX_DOMAIN): o.version for o in model.opset_import}


def _as_model(model):
    if isinstance(model, onnx.ModelProto):
        return model
    try:
        return onnx.load(str(model))
    except Exception as exc:
        raise RuntimeInputError(f"cannot read ONNX file {model}: {exc}") from exc


class GraphModule(torch.nn.Module):
    """A torch module that computes an ONNX graph.

    ``forward(*inputs)`` takes one tensor per graph input (in graph order) and returns the tensor of the
    single graph output, or a tuple when there are several. ``run(*inputs, capture=names)`` also returns
    the named intermediate values.
    """

    def __init__(self, model, registry=REGISTRY, opsets=None):
        super().__init__()
        if isinstance(model, onnx.GraphProto):
            graph = model
        else:
            model = _as_model(model)
            graph, opsets = model.graph, opset_versions(model)
        check_spiking_nodes(graph)
        constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for proto in graph.node:
            if proto.op_type == "Constant" and proto.domain in ("", "ai.onnx"):
                constants[proto.output[0]] = constant_node_value(proto)
        self.input_names = [i.name for i in graph.input if i.name not in constants]
        self.output_names = [o.name for o in graph.output]
        self._constant_slots = {}
        for i, (name, value) in enumerate(constants.items()):
            self.register_buffer(f"const{i}", torch.from_numpy(np.array(value)), persistent=False)
            self._constant_slots[name] = f"const{i}"

        self.nodes = []
        modules = []
        problems = []
        for proto in graph.node:
            if proto.op_type == "Constant" and proto.domain in ("", "ai.onnx"):
                continue
            domain = ONNX_DOMAIN if proto.domain == "ai.onnx" else proto.domain
            node = OnnxNode(proto, opsets.get(domain, 1), constants)
            converter = registry.lookup(domain, proto.op_type, node.opset)
            if converter is None:
                problems.append(f"node {node.name!r}: op {_qualified(domain, proto.op_type)} (opset {node.opset})")
                continue
            try:
                modules.append(converter(node))
            except NotImplementedError as exc:
                problems.append(f"node {node.name!r}: op {_qualified(domain, proto.op_type)}: {exc}")
                continue
            self.nodes.append(node)
        if problems:
            raise UnsupportedOpError(problems)
        self.layers = torch.nn.ModuleList(modules)
        self._last_use = _last_uses(self.nodes, self.output_names)
        self._constant_addresses = None
        ranks = declared_ranks(graph)
        self.folding = {vary: folding_plan(self.nodes, self.layers, self.input_names, vary, constants, ranks)
                        for vary in (False, True)}

    def forward(self, *inputs):
        outputs, _ = self.run(*inputs)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def run(self, *inputs, capture=(), static_cache=None, outer=None, steps=1, inputs_vary=False, only=None):
        """Run the graph; returns (list of graph outputs, dict of captured values by name).

        ``steps`` > 1 advances the stateful layers that many time steps in one call: time-varying values
        are laid out (steps * N, ...) with time outermost (see snnrt.folding); ``inputs_vary`` says the
        inputs are already laid out so (Poisson spikes), otherwise they are the same at every step.
        With a ``static_cache`` dict, nodes that do not depend on any stateful layer keep their outputs
        there and reuse them on the next call: valid while the inputs stay the same (direct encoding).
        ``outer`` holds the enclosing scope's values that a subgraph reads. ``only``: the indices of the nodes to
        compute, the others skipped (a rerun of the part of the graph that a change reaches): ``outer`` then holds
        the values that these nodes read from the skipped ones, and the nodes never overwrite them. On CUDA the
        graph computes in full float32 (snnrt.precision: no TF32).
        """
        if len(inputs) != len(self.input_names):
            raise RuntimeInputError(
                f"the model takes {len(self.input_names)} input(s) {self.input_names}, got {len(inputs)}"
            )
        plan = self.folding[inputs_vary]
        if steps > 1 and plan.problems:
            raise RuntimeInputError("this graph cannot run several time steps at once: " + "; ".join(plan.problems))
        device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), None)
        with full_float32(device):
            return self._run(inputs, capture, static_cache, outer, steps, plan, only)

    def _run(self, inputs, capture, static_cache, outer, steps, plan, only):
        env = dict(outer or {})
        env.update(zip(self.input_names, inputs))
        keep = set(capture) | set(self.output_names)
        captured = {n: env[n] for n in capture if n in env}
        for step, (node, layer) in enumerate(zip(self.nodes, self.layers)):
            if only is not None and step not in only:
                continue
            if static_cache is not None and step in static_cache:
                result = static_cache[step]
            else:
                args = [self._value(name, env) if name else None for name in node.inputs]
                if hasattr(layer, "forward_sequence"):
                    free = self._free_after(node.inputs[0], step, args[0], env, keep, (inputs, outer, static_cache))
                    # only an ExpectationCompensation node takes more than one input (snnrt.validate)
                    more = [(a, name not in plan.varying) for name, a in zip(node.inputs[1:], args[1:])]
                    result = layer.forward_sequence(args[0], steps, node.inputs[0] not in plan.varying, free,
                                                    **({"more": more} if more else {}))
                else:
                    if steps > 1 and step in plan.varying_nodes:
                        args = [_tile(a, steps) if name in plan.batched_static else a
                                for name, a in zip(node.inputs, args)]
                    result = layer(*args)
                if not isinstance(result, (tuple, list)):
                    result = (result,)
                if static_cache is not None and step not in plan.varying_nodes:
                    static_cache[step] = result
            for name, value in zip(node.outputs, result):
                if name:
                    env[name] = value
                    if name in capture:
                        captured[name] = value
            for name in node.inputs:
                if self._last_use.get(name) == step and name not in keep:
                    env.pop(name, None)
        return [self._value(n, env) for n in self.output_names], captured

    def _free_after(self, name, step, value, env, keep, holders):
        """Whether the memory of ``value`` (the value ``name`` read by the node at ``step``) may be overwritten by
        that node: this node reads it last, it is not kept (captured or output), and no other value shares its
        memory: none in env, the run's inputs, the enclosing scope, the static cache or the constants."""
        if self._last_use.get(name) != step or name in keep or not isinstance(value, torch.Tensor) or not value.numel():
            return False
        inputs, outer, static_cache = holders
        memory = value.untyped_storage().data_ptr()
        others = [*(v for n, v in env.items() if n != name), *inputs, *(outer or {}).values(),
                  *(v for result in (static_cache or {}).values() for v in result)]
        return memory not in self._constant_memory() and all(
            not isinstance(v, torch.Tensor) or v.untyped_storage().data_ptr() != memory for v in others)

    def _constant_memory(self):
        """Addresses of the constants' memory (recomputed after the module moves: see _apply)."""
        if self._constant_addresses is None:
            self._constant_addresses = {b.untyped_storage().data_ptr() for b in self.buffers()}
        return self._constant_addresses

    def _apply(self, fn, *args, **kwargs):
        self._constant_addresses = None
        return super()._apply(fn, *args, **kwargs)

    def _value(self, name, env):
        if name in env:
            return env[name]
        slot = self._constant_slots.get(name)
        if slot is None:
            raise RuntimeInputError(f"value {name!r} is used before it is computed; is the graph sorted?")
        return getattr(self, slot)

    def last_use(self, name):
        """Index of the last node that reads the value ``name`` (None for graph outputs and unread values)."""
        return self._last_use.get(name)

    def stateful_layers(self):
        """(node, module) pairs of the layers that keep state across time steps."""
        return [(n, m) for n, m in zip(self.nodes, self.layers) if hasattr(m, "reset_state")]


def _qualified(domain, op_type):
    return f"{domain}::{op_type}" if domain else op_type


def _tile(value, steps):
    """(N, ...) -> (steps * N, ...), the same value at every step."""
    return value.expand(steps, *value.shape).flatten(0, 1)


def _last_uses(nodes, output_names):
    last = {}
    for step, node in enumerate(nodes):
        for name in node.inputs:
            last[name] = step
    for name in output_names:
        last.pop(name, None)
    return last
