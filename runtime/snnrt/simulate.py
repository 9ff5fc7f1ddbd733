"""Run an SNN graph for T steps: anytime outputs (mean output layer after every step) and statistics."""

import contextlib
from dataclasses import dataclass

import torch

from .graph import GraphModule
from .stats import OpCounter

ENCODINGS = ("direct", "poisson")


def pick_device(device="auto"):
    """'auto' -> CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device; use --device cpu")
    return torch.device(device)


@dataclass
class SimulationResult:
    """``outputs[t]`` is the output averaged over steps 1..t+1, shape (T, N, ...)."""

    outputs: torch.Tensor
    firing_rates: dict
    op_counts: object

    def predictions(self):
        """Arg-max class after every step, shape (T, N)."""
        return self.outputs.argmax(dim=-1)


class SpikingNetwork:
    """An SNN (or ANN) ONNX graph on torch; ``run(x, timesteps)`` simulates T steps from the reset state."""

    def __init__(self, model, device="auto"):
        self.device = pick_device(device)
        self.graph = GraphModule(model).to(self.device).eval()

    def reset(self):
        for _, layer in self.graph.stateful_layers():
            layer.reset_state()

    @torch.no_grad()
    def run(self, x, timesteps, encoding="direct", seed=None, count_ops=False):
        """Simulate ``timesteps`` steps on the batch x (analog input fed at every step, or Poisson spikes)."""
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
        if timesteps < 1:
            raise ValueError(f"timesteps must be at least 1, got {timesteps}")
        x = torch.as_tensor(x).to(self.device)
        if encoding == "poisson" and (x.min() < 0 or x.max() > 1):
            raise ValueError("Poisson encoding needs inputs scaled to [0, 1]; use direct encoding for other inputs")
        generator = torch.Generator(device=self.device)
        if seed is not None:
            generator.manual_seed(seed)
        self.reset()
        cache = {} if encoding == "direct" else None
        total, anytime = None, []
        counter = OpCounter(self.graph)
        with counter if count_ops else contextlib.nullcontext():
            for t in range(timesteps):
                counter.next_step()
                step_input = x if encoding == "direct" else (torch.rand(x.shape, generator=generator,
                                                                        device=self.device) < x).to(x.dtype)
                outputs, _ = self.graph.run(step_input, static_cache=cache)
                total = outputs[0] if total is None else total + outputs[0]
                anytime.append(total / (t + 1))
        rates = {node.name: layer.firing_rate() for node, layer in self.graph.stateful_layers()}
        return SimulationResult(torch.stack(anytime), rates, counter.counts if count_ops else None)

