"""Layer-wise calibration: fit every IF layer to what it really receives, in one pass over the network.

Thresholds from activation statistics (onnx2snn.calibrate.thresholds) see the ANN's activations, not the spike trains
that reach a layer once the layers before it are converted; in a deep network each layer's rounding and clipping
error then adds to those upstream. Here the SNN itself runs on calibration inputs, all time steps at once and
layer by layer (snnrt's layer order). With ``refit_weights``, each Conv or Gemm that receives spikes, and the one
that computes the output, is first refitted to the spike rates it receives (onnx2snn.calibrate.weight_fit). Then each IF
layer, before it fires, is fitted to its true input currents x[t] against the ANN's activation a at the same site
on the same inputs (no labels), channel by channel:

1. threshold: each channel's theta (and its start, a fixed fraction of theta) is scaled by the factor in
   LAYERWISE_FACTORS that minimizes the layer's relative rate-code error over the target time steps,
   E = sum over T of E_T / E0_T, E_T = sum over samples and positions of (a - theta * N_T / T)^2, N_T the
   spikes in steps 1..T, and E0_T the whole layer's E_T with the thresholds it came with. Each T counts by its
   relative error: the rounding error at T=1 is thousands of times the one at T=64, and with absolute errors
   the thresholds would be chosen for the smallest T alone, clipping what the SNN needs to converge at the
   largest;
2. mean error: the remaining mean error of each channel at each T, e_T, is fitted as e_T = b + d / T: a
   constant current b (bias calibration, Li et al., ICML 2021), written into the bias of the Conv or Gemm that
   computes the input (onnx2snn.calibrate.bias_carriers; b = 0 where there is none), and a start shift d (potential
   calibration), since starting d higher adds about d / T to the mean output after T steps. The channel keeps
   the shares 0, 1/2, 1 or 3/2 of (b, d) with the smallest E.

A channel's neurons depend only on their own inputs, so these per-channel choices are exact minimizers of E over
the candidates. The layer then fires with its fitted values, and the layers after it are fitted to those
spikes: each corrects the error that reaches it. The cost is one SNN run of max(T) steps on ``samples`` inputs,
plus two simulations of each IF layer alone (elementwise, no convolutions), one with every factor of
LAYERWISE_FACTORS side by side and one with the three corrections, in the runtime's IF update, and one linear
solve per refitted weight layer.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import onnx
import torch
from tqdm.auto import tqdm

from snnrt import contract, cpu_fused
from snnrt.memory import peak_bytes_per_sample_step
from snnrt.neuron import IFParameters, IFState, if_fire, layout
from snnrt.simulate import SpikingNetwork

from ..defaults import (LAYERWISE_CORRECTIONS, LAYERWISE_FACTORS, LAYERWISE_MEMORY, LAYERWISE_NEURONS,
                       LAYERWISE_SAMPLES)
from ..errors import CalibrationError
from .bias_carriers import BIASED_OPS, add_bias, carrier_of, consumers, find_bias_carriers
from .thresholds import ann_batches
from .tune import evenly_spaced, whole_number
from .weight_fit import ConvGeometry, fit_weights, octaves

FIT_BLOCK_ELEMENTS = 1 << 23  # neuron-steps of the candidate layers simulated at once: 32 MiB a float32 tensor


def _fire(x, state, params, steps, constant, shift):
    """(spikes worth theta, state) of ``steps`` IF steps: snnrt's fused CPU update where it accepts the input and
    loading it pays (snnrt.cpu_fused.pays), else the eager one (the same spikes)."""
    fusable = cpu_fused.accepts(x, state)
    if fusable and cpu_fused.pays():
        spikes, state, _ = cpu_fused.fire_in_place(x, state, params, steps, constant, shift)
        return spikes, state
    with cpu_fused.timed_eager(fusable):
        fired, state = if_fire(x, state, params, steps, constant, shift)
        return fired.mul_(params.v_threshold), state


class UnfoldableGraph(CalibrationError):
    """The graph cannot run every time step at once, which layer-wise calibration needs (dynamic reshapes whose
    shapes come from the batch, as in exported transformers); ``problems`` says why."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("layer-wise calibration runs every time step at once, which this graph does not allow: "
                         + "; ".join(self.problems) + "; convert without it (--no-layerwise, layerwise=False)")


@dataclass
class LayerFit:
    """What layer-wise calibration chose for one IF layer (per channel), and its error E before and after."""

    factor: np.ndarray
    v_threshold: np.ndarray
    v_init: np.ndarray
    bias: np.ndarray  # added to the input current; None where no bias carries it
    error_before: float
    error_after: float


@dataclass
class LayerwiseResult:
    fits: dict  # IF node name -> LayerFit
    samples: int
    timesteps: tuple
    refitted: list = field(default_factory=list)  # the Conv and Gemm nodes whose weights were refitted

    def describe(self):
        steps = ",".join(str(t) for t in self.timesteps)
        before = sum(f.error_before for f in self.fits.values())
        after = sum(f.error_after for f in self.fits.values())
        biased = sum(f.bias is not None for f in self.fits.values())
        return (f"layer-wise calibration of {len(self.fits)} IF layer(s) on {self.samples} calibration samples, "
                f"T={steps}: {len(self.refitted)} weight layer(s) refitted, thresholds scaled, starts shifted per "
                f"channel, {biased} bias(es) corrected; "
                f"summed layer error {before:.4g} -> {after:.4g}")


def neuron_sample(shape, count, generator):
    """Flat offsets (C, M) into one step of an activation shaped (N, C, *spatial) of up to ``count`` neurons per
    channel, drawn without replacement over samples and positions (the same draw for every channel)."""
    samples, channels = shape[0], shape[1]
    positions = int(np.prod(shape[2:], dtype=np.int64))
    flat = torch.randperm(samples * positions, generator=generator)[:count]
    first = (flat // positions) * channels * positions + flat % positions
    return first[None, :] + torch.arange(channels)[:, None] * positions


def channel_rows(value, offsets, steps=None):
    """The sampled neurons (``offsets``: see neuron_sample) of ``value`` (N, C, *spatial) as rows per channel,
    (C, M); with ``steps``, of a value laid out (steps * N, C, *spatial), time outermost, as (steps, C, M)."""
    if not value.is_contiguous(memory_format=layout(value)):
        value = value.contiguous()
    per_step = value.numel() // (steps or 1)
    flat = memory_offsets(offsets.to(value.device).reshape(-1), value.shape[1:], value.stride()[1:])
    if steps is None:
        return value.as_strided((per_step,), (1,)).index_select(0, flat).reshape(offsets.shape)
    return value.as_strided((steps, per_step), (per_step, 1)).index_select(1, flat).reshape(steps, *offsets.shape)


def memory_offsets(offsets, shape, strides):
    """Where the elements at ``offsets`` (flat row-major indices into (N, *shape)) lie in the memory of a dense
    tensor whose dimensions ``shape`` have these ``strides``, N outermost (one block per sample), so that rows are
    read from a channels-last value without copying it."""
    memory = torch.zeros_like(offsets)
    rest = offsets
    for size, stride in zip(reversed(shape), reversed(strides)):
        memory += (rest % size) * stride
        rest = rest // size
    return memory + rest * math.prod(shape)


class LayerFitter:
    """Fits one IF layer to its input currents (module doc) over the sorted ``timesteps``."""

    def __init__(self, timesteps):
        self.timesteps = timesteps

    def simulate(self, currents, target, theta, v_init, bias, offsets, reset):
        """(E per candidate, T and channel, mean error e_T per candidate, T and channel) of candidate parameters
        ``theta``, ``v_init`` and ``bias`` shaped (candidates, channels), on the sampled neurons: ``currents``
        (C, M), the same at every step, or (T, C, M); ``target`` (C, M); ``offsets`` the neurons' spread offsets
        times v_spread (C, M), or None. All candidates form one layer of neurons for the runtime's IF update
        (snnrt's fused CPU kernel where it runs), a block of steps at a time."""
        constant = currents.dim() == 2
        layer = (len(theta), *currents.shape[-2:])
        theta, v_init = theta[:, :, None], v_init[:, :, None]
        params = IFParameters(theta, v_init, reset)
        state = IFState(v=v_init.expand(layer).reshape(1, *layer).clone())
        shift = None if offsets is None else theta * offsets
        bias = None if bias is None else bias[:, :, None]
        block = max(1, min(self.timesteps[-1], FIT_BLOCK_ELEMENTS // state.v.numel()))
        total = torch.zeros(layer, device=currents.device)
        errors, means = [], []
        for start in range(0, self.timesteps[-1], block):
            steps = min(block, self.timesteps[-1] - start)
            x = currents if constant else currents[start:start + steps, None]
            if bias is not None:
                x = x + bias
            x = x.expand(*(() if constant else (steps,)), *layer).reshape(-1, *layer)
            spikes, state = _fire(x, state, params, steps, constant, shift if start == 0 else None)
            sums = spikes.reshape(steps, *layer).cumsum(0).add_(total)
            for t in (t for t in self.timesteps if start < t <= start + steps):
                diff = target - sums[t - start - 1] / t
                errors.append(torch.linalg.vector_norm(diff, dim=-1).square_().double())
                means.append(diff.mean(-1).double())
            total = sums[-1]
        return torch.stack(errors, dim=1), torch.stack(means, dim=1)

    @staticmethod
    def relative_weights(errors):
        """The weight of each T's error, 1 / E0_T (module doc), scaled to sum to 1: ``errors`` (candidates, T,
        channels), the first candidate the thresholds as they came. A T without error (a silent layer) counts
        like one with a billionth of the largest."""
        reference = errors[0].sum(-1)
        weights = 1.0 / reference.clamp(min=float(reference.max()) * 1e-9 + torch.finfo(torch.float64).tiny)
        return weights / weights.sum()

    def correction(self, means, biasable, weights):
        """The least-squares (b, d) per channel of e_T = b + d / T, each T weighted by ``weights`` (d alone where
        ``biasable`` is false; b alone for a single T, where the two cannot be told apart)."""
        w = weights[:, None]
        inverse = 1.0 / torch.as_tensor(self.timesteps, dtype=torch.float64, device=means.device)[:, None]
        if biasable and len(self.timesteps) == 1:
            return means[0], torch.zeros_like(means[0])
        if not biasable:
            return None, (w * means * inverse).sum(0) / (w * inverse**2).sum()
        s1, s2, s3 = w.sum(), (w * inverse).sum(), (w * inverse**2).sum()
        r1, r2 = (w * means).sum(0), (w * means * inverse).sum(0)
        determinant = s1 * s3 - s2 * s2
        return (r1 * s3 - r2 * s2) / determinant, (s1 * r2 - s2 * r1) / determinant

    def fit(self, currents, target, theta, v_init, offsets, reset, biasable):
        """The LayerFit of one layer from its sampled neurons (see simulate): ``theta`` and ``v_init`` its current
        values per channel (float32), ``biasable`` whether a bias can carry a current."""
        factors = torch.tensor(LAYERWISE_FACTORS, dtype=torch.float32, device=theta.device)[:, None]
        per_step, means = self.simulate(currents, target, theta * factors, v_init * factors, None, offsets, reset)
        weights = self.relative_weights(per_step)
        error = (per_step * weights[:, None]).sum(1)
        best = error.argmin(0)
        channels = torch.arange(theta.shape[0], device=theta.device)
        factor = factors[best, 0]
        theta, v_init = theta * factor, v_init * factor
        start_error = error[best, channels]
        bias, shift = self.correction(means[best, :, channels].T, biasable, weights)
        shares = torch.tensor(LAYERWISE_CORRECTIONS, dtype=torch.float64, device=theta.device)[:, None]
        starts = torch.minimum(torch.clamp(v_init.double() + shares * shift, min=0.0), theta.double()).float()
        biases = None if bias is None else (shares * bias).float()
        corrected, _ = self.simulate(currents, target, theta.expand_as(starts), starts, biases, offsets, reset)
        corrected = (corrected * weights[:, None]).sum(1)
        pick = torch.cat([start_error[None], corrected]).argmin(0)
        keep = pick > 0
        chosen = (pick - 1).clamp(min=0)
        v_init = torch.where(keep, starts[chosen, channels], v_init)
        bias = None if biases is None else torch.where(keep, biases[chosen, channels], 0.0)
        after = torch.where(keep, corrected[chosen, channels], start_error)
        before = error[LAYERWISE_FACTORS.index(1.0)]
        return LayerFit(factor.cpu().numpy(), theta.cpu().numpy(), v_init.cpu().numpy(),
                        None if bias is None else bias.cpu().numpy(), float(before.sum()), float(after.sum()))


def _samples_that_fit(network, x, steps, samples):
    """How many calibration samples one run of ``steps`` steps may take within LAYERWISE_MEMORY."""
    peak = peak_bytes_per_sample_step(network.graph, torch.as_tensor(x[:1]).to(network.device))
    network.reset()
    return max(1, min(samples, LAYERWISE_MEMORY // max(1, peak * steps)))


def calibrate_layerwise(snn, ann, data, timesteps, samples=LAYERWISE_SAMPLES, batch_size=128, progress=False,
                        refit_weights=True):
    """Fit the IF layers of the SNN ModelProto ``snn`` (converted from the clean ANN ``ann``) to the calibration
    inputs ``data`` over the sorted time steps ``timesteps`` (module doc); with ``refit_weights``, refit the weight
    layers that receive spikes first (onnx2snn.calibrate.weight_fit). Returns (a new SNN ModelProto with the fitted
    thresholds, starts, biases and weights, LayerwiseResult)."""
    if data is None or len(data) == 0:
        raise CalibrationError("layer-wise calibration needs calibration data; give --calib")
    if not whole_number(samples) or samples < 1:
        raise ValueError(f"layerwise_samples must be a positive integer, got {samples!r}")
    network = SpikingNetwork(snn, order="layer")
    plan = network.graph.folding[False]
    if plan.problems:
        raise UnfoldableGraph(plan.problems)
    x = np.ascontiguousarray(np.asarray(data[evenly_spaced(len(data), samples)], np.float32))
    x = x[evenly_spaced(len(x), _samples_that_fit(network, x, timesteps[-1], samples))]
    layers = [(node, layer) for node, layer in network.graph.stateful_layers() if hasattr(layer, "v_threshold")]
    targets = _ann_values(ann, [node.outputs[0] for node, _ in layers], x, batch_size, network.device)
    channels = {node.name: int(targets[node.outputs[0]].shape[1]) if targets[node.outputs[0]].dim() > 1 else 1
                for node, _ in layers}
    carriers = find_bias_carriers(snn, channels)
    # a weight layer's target is its own output in the ANN, found by node name: a graph output of the SNN may carry
    # another value in the ANN under the same name (the probabilities of a final Softmax that the SNN dropped)
    computed = {node.name: node.output[0] for node in ann.graph.node}
    refits = {name: (producer, computed[producer.name], *rest) for name, (producer, *rest)
              in (_weight_layers(snn, carriers) if refit_weights else {}).items()
              if producer.name in computed}
    refit_targets = _ann_values(ann, [name for _, name, _, _ in refits.values()], x, batch_size, network.device)
    fitter = LayerFitter(tuple(timesteps))
    fits = {}
    generator = torch.Generator().manual_seed(0)
    bar = tqdm(total=len(layers), desc="layer-wise calibration", unit="layer", disable=not progress, leave=False)

    def fitting(node, layer, original):
        def forward_sequence(currents, steps, constant_in_time=False, into_input=False):
            count = channels[node.name]
            target = targets[node.outputs[0]]
            index = neuron_sample(target.shape, LAYERWISE_NEURONS, generator)
            rows = channel_rows(currents, index, None if constant_in_time else steps)
            offsets = None
            if layer.spread:
                spread = torch.from_numpy(contract.spread_offsets(tuple(target.shape[1:]))).reshape(-1)
                offsets = layer.spread * spread[index % spread.numel()].to(currents.device)
            fit = fitter.fit(rows, channel_rows(target, index), layer.v_threshold.reshape(-1).expand(count).clone(),
                             layer.v_init.reshape(-1).expand(count).clone(), offsets, layer.reset,
                             node.name in carriers)
            fits[node.name] = fit
            layer.v_threshold = torch.from_numpy(fit.v_threshold).to(currents.device)
            layer.v_init = torch.from_numpy(fit.v_init).to(currents.device)
            if fit.bias is not None:
                bias = torch.from_numpy(fit.bias).to(currents.device).reshape(1, -1, *([1] * (currents.dim() - 2)))
                currents = currents.add_(bias) if into_input else currents + bias
                into_input = True
            bar.update()
            return original(currents, steps, constant_in_time, into_input)
        return forward_sequence

    weights = {}

    def refitting(producer, target_name, geometry, transposed, original):
        def run(inputs, weight, bias=None):
            target = refit_targets[target_name]
            if producer.input[0] not in plan.varying or inputs.shape[0] != timesteps[-1] * target.shape[0]:
                return original(inputs, weight, bias)  # the same input at every step: nothing to correct
            trained = weight.T if transposed else weight
            start = torch.zeros(trained.shape[0], device=weight.device) if bias is None else bias
            fitted = fit_weights(lambda: _rates(inputs, target.shape[0], octaves(timesteps)), target, trained, start,
                                 geometry, generator)
            if fitted is None:
                return original(inputs, weight, bias)
            weights[producer.name] = fitted[0].T if transposed else fitted[0], fitted[1], start
            return original(inputs, weights[producer.name][0], fitted[1])
        return run

    modules = dict(zip((node.name for node in network.graph.nodes), network.graph.layers))
    for producer, target_name, geometry, transposed in refits.values():
        module = modules[producer.name]
        module.fn = refitting(producer, target_name, geometry, transposed, module.fn)
    for node, layer in layers:
        layer.forward_sequence = fitting(node, layer, layer.forward_sequence)
    with bar, torch.no_grad():
        network.reset()
        network.graph.run(torch.from_numpy(x).to(network.device), steps=timesteps[-1])
    return _written(snn, fits, carriers, weights), LayerwiseResult(fits, len(x), tuple(timesteps), sorted(weights))


def _ann_values(ann, names, x, batch_size, device):
    """{name: the ANN's value ``name`` on the inputs ``x``} as torch tensors on ``device``."""
    if not names:
        return {}
    values = [np.concatenate(parts) for parts in zip(*ann_batches(ann, names, x, batch_size))]
    return {name: torch.from_numpy(value).to(device) for name, value in zip(names, values)}


def _rates(inputs, samples, timesteps):
    """The rate codes r_T (spikes summed over steps 1..T, over T) of ``inputs`` laid out (steps * samples, ...),
    one per T of ``timesteps``, computed as they are read."""
    total = torch.zeros_like(inputs[:samples])
    done = 0
    for t in timesteps:
        total += inputs[done * samples:t * samples].reshape(t - done, samples, *inputs.shape[1:]).sum(0)
        done = t
        yield total / t


def _weight_layers(snn, carriers):
    """{name: (Conv or Gemm NodeProto, ConvGeometry, whether its weight is stored (in, out))} of the weight layers
    that weight calibration can refit: the bias carriers of IF layers (keyed by the IF node's name) and the layers
    that compute a graph output (keyed by their own name) with a bias of one value per output or none, where the
    weight is a constant that no other node or subgraph reads."""
    initializers = {t.name: t for t in snn.graph.initializer}
    readers = consumers(snn.graph)
    outputs = {output.name for output in snn.graph.output}
    layers = {name: producer for name, (producer, _) in carriers.items()}
    for node in snn.graph.node:
        weight = initializers.get(node.input[1]) if len(node.input) > 1 else None
        if node.output[0] in outputs and weight is not None and weight.dims:
            count = weight.dims[-1] if _transposed(node) else weight.dims[0]
            if carrier_of(node, initializers, count) is not None:
                layers[node.name] = node
    found = {}
    for name, producer in layers.items():
        weight = initializers.get(producer.input[1]) if len(producer.input) > 1 else None
        if weight is None or readers.get(producer.input[1]) != 1:
            continue
        geometry = ConvGeometry.of(producer, onnx.numpy_helper.to_array(weight))
        if geometry is not None:
            found[name] = (producer, geometry, bool(_transposed(producer)))
    return found


def _transposed(node):
    """For a Gemm: whether its weight is stored (in, out) (transB unset); None for other ops."""
    if node.op_type != "Gemm":
        return None
    return not any(a.name == "transB" and a.i for a in node.attribute)


def _written(snn, fits, carriers, weights):
    """A copy of ``snn`` with the fitted values of ``fits`` in its IF nodes and bias carriers, and the refitted
    ``weights`` {node name: (weight, bias, bias it replaces)} in their Conv and Gemm nodes."""
    result = onnx.ModelProto.FromString(snn.SerializeToString())
    nodes = {node.name: node for node in result.graph.node}
    initializers = {t.name: t for t in result.graph.initializer}
    biases = {}
    for name, (weight, bias, replaced) in weights.items():
        tensor = initializers[nodes[name].input[1]]
        tensor.CopyFrom(onnx.numpy_helper.from_array(weight.cpu().numpy().astype(np.float32), tensor.name))
        biases[name] = (bias - replaced).cpu().numpy()
    for name, fit in fits.items():
        node = nodes[name]
        for attribute in node.attribute:
            if attribute.name == contract.ATTR_THRESHOLD:
                attribute.floats[:] = [float(v) for v in fit.v_threshold]
            elif attribute.name == contract.ATTR_V_INIT:
                attribute.floats[:] = [float(v) for v in fit.v_init]
        if fit.bias is not None:
            producer = carriers[name][0].name
            biases[producer] = biases.get(producer, 0.0) + fit.bias
    for name, delta in biases.items():
        if np.any(delta):
            add_bias(result, (nodes[name], BIASED_OPS[nodes[name].op_type]), delta)
    onnx.checker.check_model(result)
    return result
