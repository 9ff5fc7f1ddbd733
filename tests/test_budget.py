"""The smallest T within an accuracy budget of the ANN (onnx2snn.report.budget), and eval --budget / demo showing it."""

import json

import pytest
from click.testing import CliRunner

from onnx2snn.cli.commands import main
from onnx2snn.load.bundled import bundled_model
from onnx2snn.report.budget import smallest_t
from onnx2snn.report.evaluate import Evaluation

MLP = str(bundled_model("digits_mlp"))


def _evaluation(accuracies, ann=0.98):
    steps = sorted(accuracies)
    return Evaluation(samples=100, timesteps=steps, snn_accuracy=accuracies, ann_accuracy=ann, ann_macs=1000.0,
                      sops={t: 100.0 * t for t in steps}, static_macs=100.0, spiking_macs=800.0,
                      stepped_ops={t: 10.0 * t for t in steps})


def test_the_smallest_t_within_the_budget_and_a_dip_after_it():
    result = smallest_t(_evaluation({1: 0.90, 2: 0.975, 4: 0.96, 8: 0.98, 16: 0.979}), 0.5)
    assert (result.t, result.accuracy, result.dips, result.holds) == (2, 0.975, (4,), False)
    assert result.sops == 200.0 and result.nonspiking_share == pytest.approx(120 / 320)
    # the 100 MACs computed once and the 2 * 10 operations done step by step, at a MAC each
    assert result.energy_uj == pytest.approx((1000 * 4.6e-6, ((100 + 20) * 4.6 + 200 * 0.9) * 1e-6))
    report = result.as_dict()
    assert report["t"] == 2 and report["dips_at"] == [4] and report["holds"] is False
    assert report["energy_ratio"] == pytest.approx(732 / 4600) and report["nonspiking_share"] == pytest.approx(0.375)
    assert "200 SOPs/sample (37.50% of operations non-spiking)" in result.describe(16)
    assert "but out of it again at T=4" in result.describe(16)
    assert result.sentence(16) == ("this SNN reaches the ANN within 0.5 points at T=2 (but not again at T=4), "
                                   "at 0.16x the ANN's energy")


def test_a_budget_held_from_its_t_on_exactly_at_the_edge_and_never_met():
    held = smallest_t(_evaluation({1: 0.90, 4: 0.97, 8: 0.99}), 1)  # 0.98 - 1 point = 0.97: within
    assert (held.t, held.holds, held.dips) == (4, True, ())
    assert "from T=4 (97.00%), holding to T=8" in held.describe(8)
    never = smallest_t(_evaluation({1: 0.5, 2: 0.6}), 1)
    assert never.t is None and not never.holds and never.as_dict()["energy_ratio"] is None
    assert never.sentence(2) == "this SNN does not come within 1 point of the ANN by T=2"
    assert never.describe(2) == "never within 1 point of the ANN (98.00%) by T=2"
    with pytest.raises(ValueError, match="needs the ANN"):
        smallest_t(_evaluation({1: 0.5}, ann=None))


def _invoke(*args):
    return CliRunner().invoke(main, ["--quiet", *map(str, args)])


def test_eval_budget_line_and_json(snn):
    common = ("eval", snn, "--data", "digits", "--samples", 100, "--timesteps", "1,4,16", "--ann", MLP)
    default = _invoke(*common)
    assert default.exit_code == 0, default.output
    line = default.output.strip().splitlines()[-1]
    assert "of the ANN" in line and ("within 1 point " in line or line.startswith("never within 1 point"))
    report = json.loads(_invoke(*common, "--budget", 100, "--json").output)
    assert report["smallest_t"]["t"] == 1 and report["smallest_t"]["budget_points"] == 100
    assert report["smallest_t"]["holds"] is True and report["smallest_t"]["sops"] == report["sops"]["1"]
    assert report["smallest_t"]["energy_uj"]["snn"] == report["energy_uj"]["snn"]["1"]
    assert report["smallest_t"]["nonspiking_share"] == report["nonspiking_share"]["1"]
    without_ann = json.loads(_invoke("eval", snn, "--data", "digits", "--samples", 20, "--timesteps", 2,
                                     "--json").output)
    assert "smallest_t" not in without_ann


def test_eval_budget_without_the_ann_is_exit_2(snn):
    result = _invoke("eval", snn, "--data", "digits", "--budget", 1)
    assert result.exit_code == 2 and "--budget compares with the ANN: give --ann" in result.output
    result = _invoke("eval", snn, "--data", "digits", "--ann", MLP, "--budget", -1)
    assert result.exit_code == 2 and "--budget" in result.output
