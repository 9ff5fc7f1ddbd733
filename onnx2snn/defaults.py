"""Defaults of the conversion that both the Python API and the CLI use (kept here so that the CLI need not
import the converter to show them)."""

# Spread of the membrane potentials over each layer's neurons after the first step, a fraction of theta
# (snnrt.contract: v_spread), used with the default start theta/2. Measured on the bundled
# MNIST CNNs with benchmarks/accuracy.py.
SPREAD = 0.75

# A clip bound (ReLU6, a learned clip) stays a channel's threshold only where at least (100 - CAP_PERCENTILE) % of
# that channel's activations on the calibration data reach it; elsewhere the channel's statistic, below the bound,
# replaces it (onnx2snn.calibrate.thresholds).
CAP_PERCENTILE = 99.9
# A layer whose clip bound some of its channels keep counts as a trained bound (no spread, not tuned) where at least
# this share of its channels keep it; 0: any channel.
CAP_TRAINED_SHARE = 0.0

# Tuning (onnx2snn.calibrate.tune): the time steps whose outputs should follow the ANN's, the number of calibration
# samples simulated, the factors tried on each layer's thresholds besides 1, and the spreads tried on the
# layers that have one besides their own.
TUNE_TIMESTEPS = (1, 2, 4, 8, 16, 32, 64)
TUNE_SAMPLES = 256
TUNE_SCALES = (0.7, 0.85, 1.2, 1.45, 1.75, 2.1)
TUNE_SPREADS = (0.0, 0.5, 0.75, 1.0)
# The tuning error weights each T's output error by T ** TUNE_WEIGHT_POWER (onnx2snn.calibrate.tune: why). Measured on
# the bundled MNIST models with benchmarks/accuracy.py, and on the ReLU CNN with three random calibration draws
# and with all training images for calibration (benchmarks/README.md).
TUNE_WEIGHT_POWER = 1.0

# The range of T an anytime conversion (no latency target) aims at: the metadata and the CLI's help name it.
ANYTIME_TIMESTEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)

# Layer-wise calibration (onnx2snn.calibrate.layerwise): whether convert() runs it by default, the time steps it fits
# an anytime conversion for (each counts by its relative error), the number of calibration samples the SNN runs on,
# the factors tried on each channel's threshold (1 first: ties keep it and it is the reference of the relative
# errors), the shares of the fitted bias and start shift tried, and the memory one calibration run may take.
# The SNN runs as many steps as the largest T fitted, so a run of 32 steps holds twice the calibration samples of a
# run of 64 in the same memory. On the development half, T = 1..32 against T = 1..64 raised the mean accuracy by
# 1.9 / 1.3 / 1.4 / 0.5 points at T = 1 / 2 / 4 / 8 and kept T = 32 and 64 (+0.06 and -0.04 points); fitting
# T = 1..16 on 4 times the samples gained more at small T but left the SNN converging to another function than the
# ANN's (the output error stops falling after 64 steps), which the anytime conversion must not.
LAYERWISE = True
LAYERWISE_TIMESTEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
LAYERWISE_SAMPLES = 256
LAYERWISE_FACTORS = (1.0, 0.85, 1.2, 0.7, 1.45, 1.75, 2.1)
LAYERWISE_CORRECTIONS = (0.5, 1.0, 1.5)
LAYERWISE_MEMORY = 256 << 20
# The neurons per channel (sampled over calibration samples and positions) whose error fits a layer.
LAYERWISE_NEURONS = 256
# Weight calibration inside layer-wise calibration (onnx2snn.calibrate.weight_fit): the (sample, position) rows of each
# weight layer's input it fits on, the rows it needs per weight of an output (fewer: the layer keeps its weights,
# as a Gemm whose rows are only the calibration samples), the ridge towards the trained weights, a fraction
# of the Gram matrix's mean diagonal, and the memory the Gram matrices of all T may take before they are summed
# in a second pass instead. The refit sums the Gram matrices of the fitted T thinned to steps of about
# WEIGHT_FIT_SPACING (weight_fit.octaves).
WEIGHT_FIT_ROWS = 8192
WEIGHT_FIT_ROWS_PER_FEATURE = 4
WEIGHT_FIT_RIDGE = 1e-3
WEIGHT_FIT_GRAM_MEMORY = 64 << 20
WEIGHT_FIT_SPACING = 2

# diagnose's batch: it holds the ANN's values at every IF site for a whole batch. On the zoo's resnet20 (1000 images,
# T = 1..64, idle machine, benchmarks/diagnose_speed.py) batch 128 took 888 MiB of its own with --repair-samples 64
# at 1.29x eval's time, batch 32 462 MiB at 1.42x: the target is 500 MiB and 2x.
DIAGNOSE_BATCH_SIZE = 32

# diagnose --repair-samples (onnx2snn.report.diagnose_repair): the factors tried on each IF layer's thresholds and the
# largest T the trials score (the low T where a conversion loses accuracy).
DIAGNOSE_REPAIR_FACTORS = (0.8, 1.25)
DIAGNOSE_REPAIR_MAX_T = 16
# The memory that the values kept for the trials' reruns may take (onnx2snn.report.diagnose_repair): it sets how many
# inputs a chunk of trials holds.
DIAGNOSE_REPAIR_MEMORY = 64 << 20
