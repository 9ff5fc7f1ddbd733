"""Defaults of the conversion that both the Python API and the CLI use (kept here so that the CLI need not
import the converter to show them)."""

# Spread of the membrane potentials over each layer's neurons after the first step, a fraction of theta
# (snnrt.contract: v_spread), used with the default start theta/2. Measured on the bundled
# MNIST CNNs with benchmarks/accuracy.py.
SPREAD = 0.75
