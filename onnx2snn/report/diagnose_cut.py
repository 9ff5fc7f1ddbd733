"""The SNN cut at one IF layer, for the repair trials of onnx2snn.report.diagnose_repair.

New thresholds of an IF layer change only the nodes that read its output, directly or through others. ``Cut``
names those nodes and the values they read from the rest of the graph; ``KeptValues`` keeps such values from a
whole run of the SNN, per chunk of inputs and for every step, so that a trial reruns only the nodes its layer
reaches (snnrt.simulate.SpikingNetwork.run: rerun), with the same results as a run of the whole repaired SNN.
"""

import torch


class Cut:
    """IF node ``name`` of a GraphModule: ``nodes``, the indices of the nodes it reaches (itself included);
    ``reads``, the values those nodes read from the other nodes; ``reaches_output``, whether the graph's first
    output depends on it."""

    def __init__(self, graph, name):
        index = next(i for i, node in enumerate(graph.nodes) if node.name == name)
        self.name, self.node, self.layer = name, graph.nodes[index], graph.layers[index]
        reached, self.nodes = set(), set()
        for i, node in enumerate(graph.nodes[index:], index):
            if i == index or reached.intersection(node.inputs):
                self.nodes.add(i)
                reached.update(node.outputs)
        computed = {name for node in graph.nodes for name in node.outputs if name}
        self.reads = {name for i in self.nodes for name in graph.nodes[i].inputs if name in computed} - reached
        self.reads |= computed.intersection(graph.output_names) - reached  # a rerun returns every output
        self.reaches_output = graph.output_names[0] in reached

    def rerun(self, network, x, kept, timesteps, start):
        """The SimulationResult (anytime outputs at ``timesteps``) of the network on inputs x, those of the last
        run whose values ``kept`` holds, with this IF layer's thresholds and initial potentials ``start``
        (float32 arrays); only the nodes it reaches run. The layer's own are restored afterwards."""
        own = self.layer.v_threshold, self.layer.v_init
        self.layer.v_threshold, self.layer.v_init = (torch.from_numpy(v).to(network.device) for v in start)
        try:
            return network.run(x, timesteps[-1], keep=timesteps, rerun=(self.nodes, kept.given(self.reads)))
        finally:
            self.layer.v_threshold, self.layer.v_init = own


class KeptValues:
    """Values ``names`` of a SpikingNetwork's runs on a chunk of inputs over ``timesteps`` steps (direct
    encoding): (steps, samples, ...) for those that vary in time, (samples, ...) for the others."""

    def __init__(self, network, names, timesteps):
        self.network, self.names, self.timesteps = network, sorted(names), timesteps
        self.varying = network.graph.folding[False].varying
        self.values = {}

    def bytes_per_sample(self, x):
        """The memory that the kept values of one input take (at least 1 byte)."""
        sample = torch.as_tensor(x[:1]).to(self.network.device)
        self.network.reset()  # one step on one sample, from the reset state and back to it
        _, values = self.network.graph.run(sample, capture=self.names)
        self.network.reset()
        return max(1, sum(value.numel() * value.element_size() * (self.timesteps if name in self.varying else 1)
                          for name, value in values.items()))

    def recorders(self, samples):
        """The observe callbacks of SpikingNetwork.run that keep the values of its run on ``samples`` inputs (the
        values kept before are dropped)."""
        self.values = {}
        return {name: self._recorder(name, samples) for name in self.names}

    def _recorder(self, name, samples):
        def record(values, first_step, first_sample):
            if name not in self.values:
                shape = (self.timesteps, samples) if name in self.varying else (samples,)
                self.values[name] = values.new_empty(shape + values.shape[2:])
            rows = slice(first_sample, first_sample + values.shape[1])
            if name in self.varying:
                self.values[name][first_step : first_step + len(values), rows] = values
            elif first_step == 0:
                self.values[name][rows] = values[0]

        return record

    def given(self, names):
        """The ``given`` function of SpikingNetwork.run's rerun: values ``names`` as snnrt.graph lays them out for
        the samples and steps asked."""
        def given(first_sample, samples, first_step, steps):
            rows = slice(first_sample, first_sample + samples)
            return {name: self.values[name][first_step : first_step + steps, rows].flatten(0, 1)
                    if name in self.varying else self.values[name][rows] for name in names}

        return given
