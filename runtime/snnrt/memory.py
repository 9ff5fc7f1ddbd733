"""Memory estimate of one simulation step per sample, to size the chunks of the layer-by-layer order."""

import torch


@torch.no_grad()
def peak_bytes_per_sample_step(graph, sample, inputs_vary=False, kept=()):
    """Largest sum of live values (bytes) while the graph runs one step on one sample.

    Runs the graph once on ``sample`` (a batch of one) and replays its liveness: a value lives from the node
    that computes it to its last use, or to the end for the values named in ``kept`` (captured by the run).
    Temporaries inside an op are not counted, so leave the budget some room. Stateful layers are left with
    state: reset them afterwards.
    """
    names = [name for node in graph.nodes for name in node.outputs if name]
    _, values = graph.run(sample, capture=names, inputs_vary=inputs_vary)
    sizes = {name: value.numel() * value.element_size() for name, value in values.items()
             if isinstance(value, torch.Tensor)}
    live, peak = sample.numel() * sample.element_size(), 0
    for step, node in enumerate(graph.nodes):
        live += sum(sizes.get(name, 0) for name in node.outputs if name)
        peak = max(peak, live)
        live -= sum(sizes.get(name, 0) for name in set(node.inputs) - set(kept) if graph.last_use(name) == step)
    return peak
