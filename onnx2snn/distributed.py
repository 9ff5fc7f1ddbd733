"""Calibration and evaluation shared by several processes with torch.distributed (as torchrun starts them).

Batch i of the data (of --batch-size samples) goes to rank i mod world size, so each process reads and runs
only its own batches. What they add up is then merged with collective operations, and the result is the one
process's to the last bit:

- calibration histograms (onnx2snn.calibrate.histogram): every rank starts its range from the top of batch 0, as one
  process does, so ranges differ only by factors of two and merge exactly (counts summed, maxima taken);
- evaluation figures (onnx2snn.report.evaluate.EvaluationSums): each batch's few numbers are gathered, and every rank
  adds them up in batch order, as one process does.

A process group that the caller made (torch.distributed.init_process_group) is used as it is; the command line
makes one where torchrun has set WORLD_SIZE above 1: gloo for the merges (small CPU tensors), and NCCL beside it
on a machine with CUDA, each rank then on the GPU of its LOCAL_RANK.
"""

import atexit
import os
import sys

import numpy as np

from .errors import Onnx2SnnError


def _dist():
    """torch.distributed where a process group is up, else None (without importing torch where it is not loaded:
    then no group can be)."""
    dist = sys.modules.get("torch.distributed")
    return dist if dist is not None and dist.is_available() and dist.is_initialized() else None


def rank_and_size():
    """(this process's rank, number of processes): (0, 1) without a process group."""
    dist = _dist()
    return (dist.get_rank(), dist.get_world_size()) if dist else (0, 1)


def is_main():
    """Whether this process prints and writes files: rank 0, or the only process."""
    return rank_and_size()[0] == 0


def owns(index):
    """Whether batch ``index`` is this process's to run."""
    rank, size = rank_and_size()
    return index % size == rank


def init_from_environment():
    """Join the process group that torchrun describes (WORLD_SIZE > 1 in the environment), once; returns whether
    this process is one of several."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if not dist.is_available():
            raise Onnx2SnnError("WORLD_SIZE is above 1, but this torch has no torch.distributed; run one process")
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo")
        # left to interpreter shutdown, gloo's worker threads can abort the process (SIGABRT, "terminate called
        # without an active exception") after its work is done; the group made here is destroyed before that
        atexit.register(_destroy_group)
    return True


def _destroy_group():
    dist = _dist()
    if dist is not None:
        dist.destroy_process_group()


def barrier():
    """Wait until every process is here (a no-op alone): after rank 0 writes a file that the next step reads."""
    dist = _dist()
    if dist is not None:
        dist.barrier()


def merge_histograms(histograms):
    """Merge the StreamingHistograms {name: histogram} of every rank into each, in place (a no-op alone)."""
    dist = _dist()
    if dist is None or dist.get_world_size() == 1:
        return
    import torch

    for name in sorted(histograms):
        hist = histograms[name]
        doublings = torch.tensor([_doublings(hist)], dtype=torch.int64)
        dist.all_reduce(doublings, op=dist.ReduceOp.MAX)
        for _ in range(int(doublings) - _doublings(hist)):
            hist.double_range()
        counts = torch.from_numpy(hist.counts)
        maximum = torch.from_numpy(np.ascontiguousarray(hist.maximum, np.float64))
        dist.all_reduce(counts)
        dist.all_reduce(maximum, op=dist.ReduceOp.MAX)
        hist.counts, hist.maximum = counts.numpy(), maximum.numpy()


def _doublings(hist):
    """How many times a histogram's range has doubled from its start."""
    return int(round(np.log2(hist.hi / hist.start)))


def gather_records(records, width):
    """{batch index: float64 vector of ``width`` numbers} of every rank, from this rank's (a no-op alone): the
    vectors are exact, so integers under 2**53 and floats pass unchanged."""
    dist = _dist()
    if dist is None or dist.get_world_size() == 1:
        return records
    import torch

    count = torch.tensor([len(records)], dtype=torch.int64)
    counts = [torch.zeros_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    most = int(max(counts))
    mine = torch.full((most, width + 1), -1.0, dtype=torch.float64)
    for row, (index, vector) in enumerate(sorted(records.items())):
        mine[row, 0] = index
        mine[row, 1:] = torch.from_numpy(np.asarray(vector, np.float64))
    everyone = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone, mine)
    merged = {}
    for table in everyone:
        for row in table.numpy():
            if row[0] >= 0:
                merged[int(row[0])] = row[1:]
    return merged
