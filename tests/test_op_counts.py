"""Operation counts (snnrt.stats) and eval's report of them, on a net counted by hand: spikes -> Gemm g1 -> a
compensation unit (body: MatMul, Sigmoid) -> Gemm g2. The unit's work and g2's MACs on its real-valued output stay
non-spiking; only g1's MACs become SOPs."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from onnx2snn.cli.commands import main
from onnx2snn.report.evaluate import evaluate
from snnrt import contract
from snnrt.simulate import SpikingNetwork
from tests.conftest import tiny_snn

# Per sample and step, with the input (1, 0, 1, 0): tiny_snn's IF neurons (θ = 1, v_init = 0.5) spike at every
# step where the input is 1 and never where it is 0.
G1_MACS, BODY_MACS, G2_MACS = 4 * 3, 3 * 3, 3 * 2
SOPS_PER_STEP = 2 * 3  # two spikes, each fanning out to g1's three outputs
UNIT_PER_STEP = BODY_MACS + 3 + 2 * (3 + 3)  # the MatMul, one Sigmoid per element, running mean and increment
NONSPIKING_PER_STEP = UNIT_PER_STEP + G2_MACS
ANN_MACS = G1_MACS + BODY_MACS + G2_MACS


def _net():
    body = helper.make_graph(
        [helper.make_node("MatMul", ["m", "wb"], ["h"]), helper.make_node("Sigmoid", ["h"], ["f"])], "f",
        [helper.make_tensor_value_info("m", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("f", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.full((3, 3), 0.5, np.float32), "wb")])
    nodes = [helper.make_node("Gemm", ["s", "w1"], ["current"], "g1"),
             helper.make_node(contract.COMPENSATION_OP, ["current"], ["unit"], "ec", domain=contract.DOMAIN,
                              body=body, body_opset=17),
             helper.make_node("Gemm", ["unit", "w2"], ["output"], "g2")]
    weights = {"w1": np.ones((4, 3), np.float32), "w2": np.float32([[1, -1], [2, 0], [0, 1]])}
    return tiny_snn(nodes, weights, output_shape=["batch", 2])


def _inputs(samples=5):
    return np.tile(np.float32([1, 0, 1, 0]), (samples, 1))


@pytest.mark.parametrize("order", ["step", "layer"])
def test_the_counter_counts_compensation_units_and_macs_on_real_values(order):
    counts = SpikingNetwork(_net(), "cpu", order).run(torch.from_numpy(_inputs()), 4, count_ops=True).op_counts
    assert (counts.ann_macs, counts.spiking_macs, counts.static_macs) == (ANN_MACS, G1_MACS, 0)
    assert counts.sops_by_step == [SOPS_PER_STEP] * 4
    assert counts.nonspiking_by_step == [NONSPIKING_PER_STEP] * 4 and counts.nonspiking_ops == 4 * 30
    assert counts.per_layer["ec"] == {"macs": BODY_MACS, "sops": 0.0, "nonspiking": 4 * UNIT_PER_STEP,
                                      "spiking_input": False}
    assert counts.per_layer["g2"]["nonspiking"] == 4 * G2_MACS and counts.per_layer["g2"]["sops"] == 0
    assert counts.per_layer["g1"]["sops"] == 4 * SOPS_PER_STEP and counts.per_layer["g1"]["spiking_input"]


def test_evaluate_reports_the_shares_and_prices_non_spiking_work_as_macs():
    x = _inputs()
    result = evaluate(_net(), x, np.zeros(len(x), np.int64), timesteps=(1, 4), device="cpu")
    assert result.nonspiking_ops(4) == 4 * NONSPIKING_PER_STEP and result.sops[4] == 4 * SOPS_PER_STEP
    assert result.nonspiking_share(4) == pytest.approx(30 / 36)
    assert result.ann_macs_share_as_sops == pytest.approx(12 / 27)
    assert result.energy(4) == pytest.approx((27 * 4.6e-6, 4 * (30 * 4.6 + 6 * 0.9) * 1e-6))


def test_eval_json_and_text_give_the_shares(tmp_path):
    path, data = tmp_path / "net.snn.onnx", tmp_path / "data.npz"
    path.write_bytes(_net().SerializeToString())
    np.savez(data, x=_inputs(), y=np.zeros(5, np.int64))
    common = ("--quiet", "eval", str(path), "--data", str(data), "--timesteps", "1,4", "--device", "cpu")
    result = CliRunner().invoke(main, [*common, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["static_macs"] == 0 and report["ann_macs"] == ANN_MACS
    assert report["nonspiking_ops"] == {"1": NONSPIKING_PER_STEP, "4": 4 * NONSPIKING_PER_STEP}
    assert report["nonspiking_share"] == {"1": pytest.approx(30 / 36), "4": pytest.approx(30 / 36)}
    assert isinstance(report["ann_macs_share_as_sops"], float)
    assert report["ann_macs_share_as_sops"] == pytest.approx(12 / 27)
    assert report["energy_uj"]["snn"]["4"] == pytest.approx(4 * (30 * 4.6 + 6 * 0.9) * 1e-6)
    text = CliRunner().invoke(main, list(common)).output
    assert ("non-spiking operations at T=4: 120/sample, 83.33% of all (MACs that stay MACs, compensation units); "
            "44.44% of the ANN's MACs became SOPs") in text
