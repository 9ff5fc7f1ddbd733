"""Calibrate: thresholds from activation statistics, then tuning by simulation and layer-wise calibration of the
converted SNN."""
