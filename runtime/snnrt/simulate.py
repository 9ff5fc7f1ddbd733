"""Run an SNN graph for T steps: anytime outputs (mean output layer after every step) and statistics.

Two execution orders:

- ``step``: the whole graph once per time step; least memory; can stop early once predictions are stable;
- ``layer``: time folded into the batch, so every stateless op runs once on (T * N, ...) and every IF
  layer loops over T internally; the part of the graph that does not depend on spikes runs once per
  sample. Work is cut into chunks of samples and of time steps so that it fits ``memory_budget``
  (Poisson input: of time steps only, so that the random draws are those of the step order).

The spike counts were identical in both orders on every model tested (tests/runtime/test_orders.py);
outputs agree to float rounding (about 1e-6 of their scale), since a convolution on (T * N) samples may
sum in another order than on N, which could in principle also move a spike that lands on its threshold.

``auto`` picks ``layer`` unless the graph cannot fold time into its batch axis (see snnrt.folding).
"""

import collections
import contextlib
import functools
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from . import cpu_fused
from .errors import RuntimeInputError
from .graph import GraphModule
from .memory import peak_bytes_per_sample_step
from .stats import OpCounter

ENCODINGS = ("direct", "poisson")
ORDERS = ("auto", "step", "layer")
# On CPU, small chunks run faster per image than large ones, mostly from page faults: glibc hands freed blocks above
# its mmap threshold (at most 32 MiB) back to the OS, so large chunks fault their buffers in again every time; a
# library should not change its host's allocator to avoid it. Measurements: benchmarks/README.md, "Chunk sizes".
CPU_MEMORY_BUDGET = 32 << 20
# The fewest time steps a chunk holds where the budget allows, by taking fewer samples, so that the numba kernel
# keeps each membrane in cache over them (benchmarks/README.md, "Chunk sizes").
CHUNK_STEPS = 4
# The fewest sample-steps (samples x steps) a chunk holds on CPU under the default budget, even where they pass it:
# where one sample-step peaks above CPU_MEMORY_BUDGET / 16 (224x224 inputs: 26 MB for VGG-11), the budget alone
# gives chunks of few sample-steps (one for VGG-11: 2.2x to 4.1x the dense bound's time; four for ResNet-18: 1.0x
# to 1.3x), while 16 took 0.6x to 0.8x (benchmarks/README.md, "Chunk sizes"). A chunk then takes about 16 times
# that peak: 420 MB for VGG-11.
CPU_CHUNK_SAMPLE_STEPS = 16
# run(count_ops=True) keeps one figure per step (snnrt.stats): the most steps it counts (8 MiB of figures).
MAX_COUNTED_STEPS = 2**20


def pick_device(device="auto"):
    """'auto' -> CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device; use --device cpu")
    return torch.device(device)


def pick_kernel(device, fused=None):
    """The IF update of a network: "compiled" (torch.compile: snnrt.fused) if ``fused`` is True, and by default
    on CUDA; "eager" (snnrt.neuron) if it is False; by default on the CPU "numba" (snnrt.cpu_fused, which a
    process loads once it pays: cpu_fused.pays) where numba is installed, else "eager"."""
    if fused or (fused is None and device.type == "cuda"):
        return "compiled"
    if fused is None and cpu_fused.available():
        return "numba"
    return "eager"


def default_memory_budget(device):
    """Bytes that one chunk of work may use: a quarter of the free GPU memory, or 32 MiB on CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 4
    return CPU_MEMORY_BUDGET


def check_class_scores(shape):
    """Refuse an output that is not (N, classes) scores, such as a segmentation map (N, C, H, W): a prediction is
    the one class with the highest score per sample."""
    if len(shape) != 2:
        dims = ", ".join(str(d) for d in shape)
        raise RuntimeInputError(
            f"the network's output has shape ({dims}), not (N, classes): predictions and accuracy are defined for "
            "classifiers, whose output is one score per class and sample; a per-pixel (segmentation) or sequence "
            "output is not evaluated (run the SNN from Python and score its outputs yourself)")


@dataclass
class SimulationResult:
    """``outputs[i]`` is the output averaged over steps 1..``steps[i]``, shape (len(steps), N, ...): every step
    run (steps = 1, 2, ...), or those that ``run(keep=...)`` asked for."""

    outputs: torch.Tensor
    firing_rates: dict
    spike_counts: dict
    op_counts: object
    order: str = "step"
    channel_rates: dict = None  # run(channel_rates=True or names): IF node name -> (steps, channels) firing rates
    steps: list = None  # the step count of each row of outputs

    def predictions(self):
        """Arg-max class after each step of ``steps``, shape (len(steps), N); outputs must be (N, classes)."""
        check_class_scores(self.outputs.shape[1:])
        return self.outputs.argmax(dim=-1)


class SpikingNetwork:
    """An SNN (or ANN) ONNX graph on torch; ``run(x, timesteps)`` simulates T steps from the reset state.

    ``fused`` picks the IF update (see :func:`pick_kernel`); every choice gives the same spikes.
    """

    def __init__(self, model, device="auto", order="auto", fused=None, memory_budget=None):
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        self.device = pick_device(device)
        self.graph = GraphModule(model).to(self.device).eval()
        self.order = order
        self.memory_budget = memory_budget or default_memory_budget(self.device)
        # sample-steps that a chunk holds whatever the budget: an explicit budget is kept to the byte
        self.min_sample_steps = CPU_CHUNK_SAMPLE_STEPS if memory_budget is None and self.device.type == "cpu" else 1
        self.kernel = pick_kernel(self.device, fused)
        for _, layer in self.graph.stateful_layers():
            if hasattr(layer, "kernel"):
                layer.kernel = self.kernel
        self._peaks = {}

    def reset(self):
        for _, layer in self.graph.stateful_layers():
            layer.reset_state()

    def resolve_order(self, order=None, encoding="direct"):
        """The order a run takes: 'auto' becomes 'layer' where time folds into the batch, else 'step'."""
        order = order or self.order
        problems = self.graph.folding[encoding == "poisson"].problems
        if order == "layer" and problems:
            raise RuntimeInputError("the layer-by-layer order cannot run this graph: " + "; ".join(problems))
        if order == "auto":
            return "step" if problems else "layer"
        return order

    def chunks(self, x, timesteps, order, encoding, observed=()):
        """(samples, steps) per graph call: everything at once where it fits the memory budget, else every
        sample for as many steps as fit, but at least ``CHUNK_STEPS`` steps where the budget allows (fewer
        samples then), so that the numba IF kernel keeps the membranes in cache over these steps. The budget
        holds at least ``min_sample_steps`` sample-steps. Chunks are made as alike as they can be. ``observed``:
        the names of values that a call keeps to its end (run: observe)."""
        if order == "step":
            return len(x), 1
        key = (tuple(x.shape[1:]), x.dtype, encoding, frozenset(observed))
        if key not in self._peaks:  # one step on one sample, from the reset state and back to it
            self.reset()
            self._peaks[key] = peak_bytes_per_sample_step(self.graph, x[:1], encoding == "poisson", observed)
            self.reset()
        fits = max(self.min_sample_steps, self.memory_budget // max(1, self._peaks[key]))  # sample-steps a chunk holds
        if len(x) * timesteps <= fits:
            return len(x), timesteps
        steps = min(timesteps, CHUNK_STEPS)
        if len(x) * steps <= fits or encoding == "poisson":  # Poisson: draws as in step order
            return len(x), _evenly(timesteps, max(1, fits // len(x)))
        steps = max(1, min(steps, fits))
        return _evenly(len(x), max(1, fits // steps)), steps

    @torch.no_grad()
    def run(self, x, timesteps, encoding="direct", seed=None, count_ops=False, order=None, stop_when_stable=None,
            channel_rates=False, observe=None, keep=None, rerun=None):
        """Simulate ``timesteps`` steps on the batch x (analog input fed at every step, or Poisson spikes).

        ``keep``: the step counts whose anytime outputs to return (None: every step), so that the memory a run
        keeps does not grow with T. ``count_ops`` keeps one figure per step: at most MAX_COUNTED_STEPS.
        ``stop_when_stable=k`` (step order) stops once every prediction has stayed the same for k steps.
        ``channel_rates``: also record each IF layer's firing rate per channel at every step (the mean over
        samples and positions), as ``result.channel_rates``; True for every IF layer, or the names of the IF
        nodes to record (recording costs time on large layers).
        ``observe``: {value name: callback(values, first_step, first_sample)}, called with every chunk of that
        graph value as it is computed: ``values`` (steps, samples, ...) are its outputs at steps first_step + 1...
        for samples first_sample... of x; for each chunk of samples the steps come in order. The callback must
        not keep ``values`` past the call (their memory is reused).
        ``rerun``: (nodes, given), to compute only the nodes of those indices in self.graph.nodes (those that a
        change reaches, such as new thresholds of one IF layer), the others' values coming from an earlier run:
        ``given(first_sample, samples, first_step, steps)`` returns {name: value} of every value that the nodes
        read from the others, for those samples of x and steps, laid out as snnrt.graph computes it (time folded
        into the batch where it varies: see snnrt.folding). Direct encoding only.
        """
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
        if rerun is not None and encoding != "direct":
            raise ValueError("a rerun of part of the graph needs direct encoding")
        if timesteps < 1:
            raise ValueError(f"timesteps must be at least 1, got {timesteps}")
        if count_ops and timesteps > MAX_COUNTED_STEPS:
            raise RuntimeInputError(f"counting operations keeps one figure per time step: T={timesteps:,} is more "
                                    f"than the {MAX_COUNTED_STEPS:,} steps allowed; give a smaller T")
        kept = list(range(1, timesteps + 1)) if keep is None else sorted({int(t) for t in keep if 1 <= t <= timesteps})
        if not kept:
            raise ValueError(f"keep must name at least one step in 1..{timesteps}, got {keep}")
        order = self.resolve_order("step" if stop_when_stable and not order else order, encoding)
        if stop_when_stable and order != "step":
            raise ValueError("stop_when_stable needs the step-by-step order")
        x = torch.as_tensor(x).to(self.device)
        if encoding == "poisson" and (x.min() < 0 or x.max() > 1):
            raise ValueError("Poisson encoding needs inputs scaled to [0, 1]; use direct encoding for other inputs")
        generator = torch.Generator(device=self.device)
        if seed is not None:
            generator.manual_seed(seed)
        observe = dict(observe or {})
        unknown = set(observe) - {name for node in self.graph.nodes for name in node.outputs}
        if unknown:
            raise ValueError(f"observe names {sorted(unknown)}, which are not values computed by this network")
        samples, steps = self.chunks(x, timesteps, order, encoding, observe)
        self.reset()
        counter = OpCounter(self.graph, inputs_vary=encoding == "poisson")
        outputs = []
        layers = [(node, layer) for node, layer in self.graph.stateful_layers() if getattr(layer, "spiking", True)]
        recorders = _recorders(layers, channel_rates)
        with counter if count_ops else contextlib.nullcontext(), _recording(recorders or []):
            for start in range(0, len(x), samples):
                part = x[start : start + samples]
                given = None if rerun is None else (rerun[0], functools.partial(rerun[1], start, len(part)))
                outputs.append(self._run_chunk(part, timesteps, steps, encoding, generator, counter, stop_when_stable,
                                               _at_sample(observe, start), set(kept), given))
        if count_ops:
            counter.finish(len(x))
        return SimulationResult(
            outputs=torch.cat(outputs, dim=1),
            firing_rates={node.name: layer.firing_rate() for node, layer in layers},
            spike_counts={node.name: int(layer.spikes) for node, layer in layers},
            op_counts=counter.counts if count_ops else None,
            order=order,
            channel_rates={node.name: _per_neuron(layer, len(x)) for node, layer in recorders}
            if recorders is not None else None,
            steps=kept[: len(outputs[0])],
        )

    def _run_chunk(self, x, timesteps, steps, encoding, generator, counter, stop_when_stable, observe, keep, rerun):
        for _, layer in self.graph.stateful_layers():
            layer.reset_membrane()
        cache = {} if encoding == "direct" else None
        varying = self.graph.folding[encoding == "poisson"].varying
        total, anytime, recent, done = None, [], collections.deque(maxlen=(stop_when_stable or 0) + 1), 0
        for first in range(0, timesteps, steps):
            count = min(steps, timesteps - first)
            counter.begin(first, count)
            if encoding == "direct":
                step_input = x
            else:  # one draw per step over the whole batch, as in step order, so that the spikes agree
                draws = [torch.rand(x.shape, generator=generator, device=self.device) for _ in range(count)]
                step_input = (torch.stack(draws) < x).to(x.dtype).flatten(0, 1)
            only, outer = (None, None) if rerun is None else (rerun[0], rerun[1](first, count))
            outs, captured = self.graph.run(step_input, capture=observe, static_cache=cache, steps=count,
                                            inputs_vary=encoding == "poisson", outer=outer, only=only)
            for name, callback in observe.items():
                callback(_per_step(captured[name], count, len(x), name in varying), first)
            per_step = _per_step(outs[0], count, len(x), self.graph.output_names[0] in varying)
            for value in per_step:
                total = value.clone() if total is None else total + value
                done += 1
                if done in keep:
                    anytime.append(total / done)
                if stop_when_stable:
                    recent.append((total / done).argmax(dim=-1))
            if stop_when_stable and _stable(recent):
                break
        return torch.stack(anytime)


def _per_step(value, steps, samples, varies):
    """A graph value of one call over ``steps`` steps as (steps, samples, ...): time folded into its batch where
    it varies in time, else the same at every step."""
    if steps == 1:
        return value[None]
    if varies:
        return value.reshape(steps, samples, *value.shape[1:])
    return value.expand(steps, *value.shape)


def _at_sample(observe, first_sample):
    """The ``observe`` callbacks of SpikingNetwork.run for a chunk of samples that starts at ``first_sample``:
    callback(values, first_step)."""
    return {name: (lambda values, first, callback=callback: callback(values, first, first_sample))
            for name, callback in observe.items()}


def _evenly(total, most):
    """The size of the fewest chunks of at most ``most`` that cover ``total``, made as alike as they can be (no
    short last chunk: 31 and 1 become 16 and 16)."""
    return -(-total // -(-total // most))


def _recorders(layers, channel_rates):
    """The (node, layer) pairs of the IF layers that ``channel_rates`` asks for: IF node names (a str or an
    iterable of them), else every IF layer if it is true; None if it is false (no per-channel rates)."""
    recorders = [(node, layer) for node, layer in layers if hasattr(layer, "record_channels")]
    if not isinstance(channel_rates, (str, Iterable)):
        return recorders if channel_rates else None
    names = {channel_rates} if isinstance(channel_rates, str) else set(channel_rates)
    unknown = names - {node.name for node, _ in recorders}
    if unknown:
        raise ValueError(f"channel_rates names {sorted(unknown)}, which are not IF nodes of this network")
    return [(node, layer) for node, layer in recorders if node.name in names]


@contextlib.contextmanager
def _recording(layers):
    """Per-channel spike counting in the IF ``layers`` while the block runs."""
    for _, layer in layers:
        layer.record_channels = True
    try:
        yield
    finally:
        for _, layer in layers:
            layer.record_channels = False


def _per_neuron(layer, samples):
    """An IF layer's per-channel spike counts by step as firing rates: spikes per neuron, sample and step (None
    for a layer that did not run)."""
    counts = layer.channel_counts
    return None if counts is None else (counts / (samples * layer.neurons / counts.shape[1])).float()


def _stable(recent):
    """True when ``recent`` (a full deque of the arg-max of the last anytime outputs) agree for every sample."""
    if len(recent) < recent.maxlen:
        return False
    stacked = torch.stack(list(recent))
    return bool((stacked == stacked[-1]).all())
