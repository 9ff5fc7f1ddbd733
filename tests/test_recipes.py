"""Named conversion recipes: what each preset writes into the SNN file, overrides, the metadata and the CLI."""

import dataclasses
import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import helper

import onnx2snn
from onnx2snn.calibrate.thresholds import ann_session
from onnx2snn.cli.commands import main
from onnx2snn.convert import convert
from onnx2snn.data.datasets import digits
from onnx2snn.errors import UnsupportedModelError
from onnx2snn.load.bundled import bundled_model
from onnx2snn.load.model import load_model
from onnx2snn.normalize import normalize
from onnx2snn.recipes import PRESETS, Recipe, get_recipe
from snnrt import contract
from snnrt.validate import if_attributes
from tests.conftest import make_model

MLP = bundled_model("digits_mlp")
X = digits("train")[0][:200]


def _if_nodes(model):
    return [node for node in model.graph.node if node.op_type == contract.IF_OP]


def _meta(model):
    return {p.key: p.value for p in model.metadata_props}


def _layer_activations(path, x):
    """{activation output name: its ANN values on x} for the ReLUs of the normalized ANN."""
    ann, _ = normalize(load_model(path))
    names = [node.output[0] for node in ann.graph.node if node.op_type == "Relu"]
    session = ann_session(ann, names)
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: x})))


def test_bu2022_is_the_layer_threshold_the_half_start_and_nothing_else():
    snn = convert(MLP, X, recipe="bu2022")
    for node in _if_nodes(snn.model):
        attrs = if_attributes(node)
        assert attrs.threshold.size == 1  # one threshold per layer
        np.testing.assert_allclose(attrs.v_init, attrs.threshold / 2)  # every neuron starts at theta/2
        assert not attrs.spread and attrs.reset == contract.RESET_SUBTRACT
    meta = _meta(snn.model)
    assert meta[contract.META_LAYERWISE] == "not run"
    assert meta[contract.META_RECIPE] == "bu2022"
    assert json.loads(meta[contract.META_RECIPE_VALUES]) == PRESETS["bu2022"].values()


def test_classic_thresholds_are_the_layer_maxima_and_membranes_start_at_zero():
    snn = convert(MLP, X, recipe="classic")
    maxima = [float(a.max()) for a in _layer_activations(MLP, X).values()]
    thresholds = [float(if_attributes(node).threshold[0]) for node in _if_nodes(snn.model)]
    np.testing.assert_allclose(thresholds, maxima, rtol=1e-2)  # the streaming histogram's bin resolution
    assert all(not np.any(if_attributes(node).v_init) for node in _if_nodes(snn.model))


def _clip_mlp(bound):
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Gemm", ["input", "w1"], ["h"], name="fc1", transB=1),
             helper.make_node("Clip", ["h", "lo", "hi"], ["a"], name="clip"),
             helper.make_node("Gemm", ["a", "w2"], ["out"], name="fc2", transB=1)]
    weights = {"w1": rng.normal(size=(8, 6)).astype(np.float32), "w2": rng.normal(size=(3, 8)).astype(np.float32),
               "lo": np.float32(0), "hi": np.float32(bound)}
    return make_model(nodes, [("input", ["N", 6])], [("out", ["N", 3])], weights)


def test_qcfs_takes_the_trained_bound_and_refuses_an_activation_without_one():
    x = np.random.default_rng(1).normal(size=(64, 6)).astype(np.float32)
    (node,) = _if_nodes(convert(_clip_mlp(1.25), x, recipe="qcfs").model)
    assert if_attributes(node).threshold.tolist() == [1.25]
    with pytest.raises(UnsupportedModelError, match="recipe 'qcfs' needs a trained clip bound.*/1/Relu"):
        convert(MLP, X, recipe="qcfs")


def test_overrides_replace_fields_and_rename_the_recipe():
    snn = convert(MLP, X, recipe="bu2022", spread=0.5)
    assert all(if_attributes(node).spread == pytest.approx(0.5) for node in _if_nodes(snn.model))
    meta = _meta(snn.model)
    assert meta[contract.META_RECIPE] == "bu2022+spread"
    assert json.loads(meta[contract.META_RECIPE_VALUES])["spread"] == 0.5
    assert get_recipe("bu2022").with_overrides(v_init="half").name == "bu2022"  # the same value changes nothing


def test_bad_recipes_and_fields_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown recipe 'paper'; the recipes are default, bu2022, classic, qcfs"):
        convert(MLP, X, recipe="paper")
    with pytest.raises(TypeError, match="unknown recipe field.*thresh\\b.*the fields are"):
        convert(MLP, X, thresh="max")
    with pytest.raises(ValueError, match="spread must be in"):
        Recipe(spread=1.5)
    with pytest.raises(ValueError, match="threshold source"):
        Recipe(threshold="median")
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["bu2022"].spread = 0.3


def test_a_recipe_object_is_accepted_and_exported_at_the_top_level():
    mine = onnx2snn.Recipe(name="mine", threshold="percentile:99.9", per_channel=False, spread=0.0, layerwise=False)
    snn = onnx2snn.convert(MLP, X, recipe=mine)
    assert _meta(snn.model)[contract.META_RECIPE] == "mine"
    assert snn.layers[0].source.startswith("percentile 99.9")


def test_cli_recipe_is_recorded_and_inspect_shows_it(tmp_path):
    out = tmp_path / "paper.snn.onnx"
    runner = CliRunner()
    result = runner.invoke(main, ["--quiet", "convert", str(MLP), "-o", str(out), "--calib", "digits:train",
                                  "--calib-samples", "200", "--recipe", "bu2022"])
    assert result.exit_code == 0, result.output
    assert "recipe: bu2022" in result.output.splitlines()
    assert _meta(onnx.load(out))[contract.META_RECIPE] == "bu2022"
    shown = runner.invoke(main, ["inspect", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "recipe: bu2022 (threshold=auto, per_channel=False, v_init=0.5, spread=0.0" in shown.output
    refused = runner.invoke(main, ["convert", str(MLP), "-o", str(out), "--recipe", "paper"])
    assert refused.exit_code == 2 and "'paper' is not one of" in refused.output
