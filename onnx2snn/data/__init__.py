"""Data sources: built-in datasets, .npz and .npy files, image folders and CIFAR batches, read batch by batch."""
