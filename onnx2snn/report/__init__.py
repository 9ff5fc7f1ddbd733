"""Report: accuracy by time step, paired comparison, plots, the smallest T within a budget, descriptions of model
files, and diagnosis by layer."""
