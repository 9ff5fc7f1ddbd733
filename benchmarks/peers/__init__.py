"""Adapters that run peer ANN-to-SNN converters on the reference models (see ../accuracy.py)."""
