"""Writing neuron values into the IF nodes of an SNN that rewrite made (onnx2snn.rewrite.write_neurons), as
convert() does after tuning: in place, in the nodes' own attribute order, with no spread where rewrite left none."""

import numpy as np
import onnx

from onnx2snn.calibrate.thresholds import Threshold
from onnx2snn.convert import convert
from onnx2snn.data.datasets import mnist5k
from onnx2snn.load.bundled import bundled_model
from onnx2snn.rewrite import neuron_attributes, write_neurons
from snnrt import contract


def _if_nodes(snn):
    return [node for node in snn.graph.node if node.op_type == contract.IF_OP]


def _values(node):
    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


def test_write_neurons_replaces_values_in_place_and_adds_no_spread_that_rewrite_left_out():
    x, _ = mnist5k("train")
    snn = convert(bundled_model("mnist_cnn_maxpool"), x[:64], layerwise=False, spread=0.5).model
    nodes = _if_nodes(snn)
    order = {node.name: [attribute.name for attribute in node.attribute] for node in nodes}
    spread = {node.name for node in nodes if contract.ATTR_SPREAD in order[node.name]}
    assert spread and len(spread) < len(nodes)  # the IF layers that feed a SpikeMaxPool carry none
    threshold = Threshold(np.array([2.0, 3.0], np.float32), "test")
    write_neurons(snn, {node.name: neuron_attributes(threshold, 0.5, contract.RESET_SUBTRACT, 0.25)
                        for node in nodes})
    for node in _if_nodes(snn):
        values = _values(node)
        assert [attribute.name for attribute in node.attribute] == order[node.name]
        assert values[contract.ATTR_THRESHOLD] == [2.0, 3.0] and values[contract.ATTR_V_INIT] == [1.0, 1.5]
        assert values.get(contract.ATTR_SPREAD) == (0.25 if node.name in spread else None)
    write_neurons(snn, {node.name: neuron_attributes(threshold, 0.5, contract.RESET_SUBTRACT, 0.0)
                        for node in nodes})
    assert not any(contract.ATTR_SPREAD in _values(node) for node in _if_nodes(snn))
    onnx.checker.check_model(snn)
