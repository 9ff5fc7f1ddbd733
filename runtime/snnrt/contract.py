"""The contract of onnx2snn's spiking ops: one place that the converter writes and the runtime reads.

An SNN file is ordinary ONNX in which every converted activation is one node of this domain.

``IFNeuron`` (integrate-and-fire, reset by subtraction), for each time step t and each element::

    v[t] = v[t-1] + x[t]
    s[t] = theta * (v[t] >= theta)
    v[t] = v[t] - s[t]            (reset="subtract")   or   v[t] * (s[t] == 0)   (reset="zero")

with ``v[0] = v_init`` (Bu et al. 2022 use ``v_init = theta / 2``). Spikes carry the value theta, so
the next layer's weights are used unchanged and the spike rate times theta estimates clip(x, 0, theta).

``v_spread = d`` (optional, default 0) spreads the membrane potentials over the neurons of a sample
once, at the end of the first step (after its reset)::

    v[1] = v[1] + d * theta * (frac((i + 1) * g) - 1/2)

for the neuron at row-major index i of the non-batch shape (C, H, W, ...), g = (sqrt(5) - 1) / 2
(:func:`spread_offsets`: evenly spread, the same for every sample). With d = 0 every neuron of a layer
rounds its input the same way, so the rounding errors add up over the next layer's fan-in instead of
cancelling; after the shift each neuron rounds at its own point. The first step is left alone, so T = 1
keeps the plain rounding of v_init = theta / 2.

``SpikeMaxPool``: max pooling of the cumulative spike trains, emitted as differences::

    C[t] = C[t-1] + s[t];   y[t] = maxpool(C[t]) - maxpool(C[t-1])

so the cumulative output equals max pooling of the cumulative input at every t (it converges to the
ANN's max pooling of the rates), and y[t] only takes the values 0 and theta.

``ExpectationCompensation`` (after Huang et al., "Towards High-performance Spiking Transformers from ANN to
SNN Conversion", ACM MM 2024) computes the function f of its graph attribute ``body`` (one body input per node
input, in the node's order, one output, every other value a constant of the body) on the means of its inputs so
far::

    m_i[t] = (x_i[1] + ... + x_i[t]) / t;   y[t] = t * f(m_1[t], ..., m_n[t]) - (t - 1) * f(m_1[t-1], ..., m_n[t-1])

so that the mean of its outputs up to t is f(m_1[t], ..., m_n[t]) exactly: a nonlinearity that no IF neuron
computes (Sigmoid, GELU, LayerNorm, a Softmax inside the network) is carried by the rates this way, and so is the
product of two values that both follow the input (a squeeze-excitation gate x * g, attention's Q·Kᵀ and A·V),
f(a, b) = a * b: the mean of its outputs is the product of the means of its inputs, where the product of two
spike trains would not be. Its outputs are real numbers, not spikes; it keeps the running sums as state.

``SignedIFNeuron`` (after the multi-threshold neuron of Huang et al. 2024) turns a real value that varies over
time, such as a compensation unit's output, into spikes of either sign and of ``levels`` sizes
theta * 2^-k, k = 0..K-1, so that the weight layer it feeds still only accumulates. For each step and element::

    v[t] = v[t-1] + x[t];   d = v[t] - theta / 2
    k = the smallest k in 0..K-1 with |d| >= theta * 2^-k / 2      (no such k: no spike, s[t] = 0)
    s[t] = sign(d) * theta * 2^-k
    v[t] = v[t] - s[t]                                              (reset by subtraction)

with ``v[0] = v_init`` (theta / 2: d starts at 0). At most one spike per step and neuron, the largest level that
the membrane's distance from theta / 2 reaches half of, so that sum(s) rounds sum(x) and the rate code
(s[1] + ... + s[t]) / t differs from the mean input by (d[0] - d[t]) / t; while |x| <= theta this is at most
theta / (2t), and less where the smaller levels fire. With K = 1 it is an IF neuron that also fires -theta
where v falls to 0. A spike of level theta * 2^-k costs the next layer one accumulate of its weight times that
level (a shift for a power of two), like any spike.
"""

import numpy as np

DOMAIN = "ai.onnx2snn"
DOMAIN_VERSION = 1

IF_OP = "IFNeuron"
MAXPOOL_OP = "SpikeMaxPool"
COMPENSATION_OP = "ExpectationCompensation"
SIGNED_IF_OP = "SignedIFNeuron"
ATTR_BODY = "body"  # graph: the function f of an ExpectationCompensation node
ATTR_BODY_OPSET = "body_opset"  # int: the ai.onnx opset of its body (BODY_OPSET when absent)
BODY_OPSET = 17

# IFNeuron attributes
ATTR_THRESHOLD = "v_threshold"  # floats: one value (per layer) or one per channel
ATTR_V_INIT = "v_init"  # floats: same length as v_threshold, absolute initial membrane potential
ATTR_SPREAD = "v_spread"  # float in [0, 1] (optional, default 0): see the module doc
ATTR_RESET = "reset"  # string: "subtract" or "zero"
ATTR_CHANNEL_AXIS = "channel_axis"  # int: axis that per-channel values run along (default 1)
# SignedIFNeuron: v_threshold, v_init and channel_axis as above, and
ATTR_LEVELS = "levels"  # int K in 1..MAX_LEVELS: spike sizes theta * 2^-k, k = 0..K-1
MAX_LEVELS = 16

RESET_SUBTRACT = "subtract"
RESET_ZERO = "zero"
RESET_MODES = (RESET_SUBTRACT, RESET_ZERO)

# metadata_props keys written by the converter
META_PREFIX = "onnx2snn."
META_METHOD = META_PREFIX + "method"
META_THRESHOLD_SOURCE = META_PREFIX + "threshold_source"
META_CALIBRATION_SAMPLES = META_PREFIX + "calibration_samples"
META_V_INIT_FRACTION = META_PREFIX + "v_init_fraction"
META_SPREAD = META_PREFIX + "spread"
META_TUNING = META_PREFIX + "threshold_tuning"
META_VERSION = META_PREFIX + "version"
META_DROPPED_SOFTMAX = META_PREFIX + "dropped_output_softmax"
META_INPUT_ENCODING = META_PREFIX + "input_encoding"
META_FITTED_FOR = META_PREFIX + "fitted_for"  # the latency target the conversion was fitted for
META_LAYERWISE = META_PREFIX + "layerwise_calibration"
META_RECIPE = META_PREFIX + "recipe"  # the conversion recipe's name (onnx2snn.recipes)
META_RECIPE_VALUES = META_PREFIX + "recipe_values"  # its fields, as JSON
META_COMPENSATED = META_PREFIX + "compensation_units"  # the ExpectationCompensation nodes and what each computes
META_SIGNED = META_PREFIX + "signed_neurons"  # the SignedIFNeuron nodes and the weight layer each one feeds


GOLDEN = (5**0.5 - 1) / 2


def spread_offsets(shape):
    """The offsets frac((i + 1) * g) - 1/2 in [-1/2, 1/2) of the neurons of ``shape`` (no batch axis), row-major
    index i, as float32: v_spread * theta times these is added to v after the first step (module doc)."""
    index = np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64)
    return (np.mod(index * GOLDEN, 1.0) - 0.5).astype(np.float32).reshape(shape)


def start_fractions(theta, v_init):
    """An IF node's initial potentials as fractions of its thresholds (0 where a threshold is 0), float64."""
    theta, v_init = np.asarray(theta, np.float64), np.asarray(v_init, np.float64)
    return np.divide(v_init, theta, out=np.zeros(np.broadcast(theta, v_init).shape), where=theta != 0)
