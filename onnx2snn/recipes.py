"""Named conversion recipes: the conversion method as one frozen value, with presets for the published methods.

A Recipe holds every choice that changes what the SNN computes: where thresholds come from, the initial membrane
potential, the spread after the first step, the reset, whether layer-wise calibration and tuning run, and the
latency target. ``convert(model, data, recipe="bu2022", spread=0.5)`` starts from a preset and overrides fields.
This module imports nothing heavy, so that the CLI can list the presets without loading the converter.
"""

from dataclasses import asdict, dataclass, fields, replace

from . import defaults

SUBTRACT, ZERO = "subtract", "zero"  # snnrt.contract.RESET_MODES, kept here so that this module stays light
PLAIN_SOURCES = ("auto", "clip", "mse", "max")  # ThresholdSpec sources without a value


def _fraction_of_theta(value, what, forms="a fraction"):
    """``value`` as a float in [0, 1], or a ValueError that names ``what``."""
    try:
        fraction = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be {forms} of the threshold, got {value!r}") from exc
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {fraction}")
    return fraction


def parse_v_init(value):
    """'half' -> 0.5, 'zero' -> 0.0, or a fraction of the threshold in [0, 1]."""
    named = {"half": 0.5, "zero": 0.0}
    if isinstance(value, str) and value in named:
        return named[value]
    return _fraction_of_theta(value, "initial potential", "'half', 'zero' or a fraction")


def threshold_text(spec):
    """The text form of a ThresholdSpec ('mse', 'percentile:99.9'), which ThresholdSpec.parse reads back."""
    return f"percentile:{spec.percentile:g}" if spec.source == "percentile" else spec.source


@dataclass(frozen=True)
class Recipe:
    """How a network is converted (docs/conversion.md has the method and its equations).

    ``threshold``: where each layer's threshold comes from: 'auto' (a trained clip bound where the activation has
    one, else 'mse'), 'clip' (the same), 'mse', 'max', 'percentile' or 'percentile:Q'; ``per_channel``: one
    threshold per channel, else one per layer; ``v_init``: the initial membrane potential, a fraction of the
    threshold ('half' and 'zero' are read as 0.5 and 0); ``spread``: after the first step, spread each layer's
    membranes evenly over this fraction of the threshold (None: defaults.SPREAD with a start of 1/2, else 0);
    ``reset``: 'subtract' or 'zero'; ``layerwise``: fit each IF layer to the spikes it receives
    (onnx2snn.calibrate.layerwise); ``refit_weights``: layer-wise calibration also refits the weights of the Conv and
    Gemm layers that receive spikes (onnx2snn.calibrate.weight_fit); ``tune``: tune thresholds, spreads and starts by
    simulation (onnx2snn.calibrate.tune);
    ``timesteps``: the latency target, the T the SNN will run for (None: anytime, T = 1..64);
    ``bounds_only``: every activation must carry a trained clip bound, which is its threshold (QCFS nets).

    Example::

        from onnx2snn import Recipe, convert
        mine = Recipe(name="mine", threshold="percentile:99.9", spread=0.0)
        snn = convert("model.onnx", x_calib, recipe=mine)
    """

    name: str = "custom"
    threshold: str = "auto"
    per_channel: bool = True
    v_init: float = 0.5
    spread: float = None
    reset: str = SUBTRACT
    layerwise: bool = True
    refit_weights: bool = True
    tune: bool = False
    timesteps: tuple = None
    bounds_only: bool = False

    def __post_init__(self):
        if not isinstance(self.threshold, str):
            raise ValueError(f"threshold must be a text such as 'mse' or 'percentile:99.9', got {self.threshold!r}")
        if self.threshold not in PLAIN_SOURCES:  # the presets' sources need no parsing (and no heavy import)
            self.threshold_spec()
        object.__setattr__(self, "v_init", parse_v_init(self.v_init))
        if self.spread is not None:
            object.__setattr__(self, "spread", _fraction_of_theta(self.spread, "spread"))
        if self.reset not in (SUBTRACT, ZERO):
            raise ValueError(f"reset must be one of ('{SUBTRACT}', '{ZERO}'), got {self.reset!r}")
        for flag in ("per_channel", "layerwise", "refit_weights", "tune", "bounds_only"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.timesteps is not None:
            from .calibrate.tune import check_steps

            object.__setattr__(self, "timesteps", check_steps(self.timesteps, "timesteps"))

    def threshold_spec(self):
        """The ThresholdSpec that calibration reads."""
        from .calibrate.thresholds import ThresholdSpec

        return ThresholdSpec.parse(self.threshold, self.per_channel)

    def spread_value(self):
        """The spread applied: the field, or its default for the start (defaults.SPREAD with theta/2, else 0)."""
        if self.spread is not None:
            return self.spread
        return defaults.SPREAD if self.v_init == 0.5 else 0.0

    def values(self):
        """Every field but the name, as plain values (for the SNN file's metadata)."""
        values = asdict(self)
        del values["name"]
        values["timesteps"] = None if self.timesteps is None else list(self.timesteps)
        return values

    def with_overrides(self, **overrides):
        """This recipe with some fields replaced; a changed recipe is named '<name>+<fields>'. ``threshold`` may
        be a ThresholdSpec, which sets ``per_channel`` too."""
        known = {f.name for f in fields(self)} - {"name"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown recipe field(s) {', '.join(unknown)}; the fields are {', '.join(sorted(known))}")
        spec = overrides.get("threshold")
        if spec is not None and not isinstance(spec, str):
            overrides = {**overrides, "threshold": threshold_text(spec), "per_channel": spec.per_channel}
        changed_recipe = replace(self, **overrides)
        changed = [f for f in sorted(known) if getattr(changed_recipe, f) != getattr(self, f)]
        return replace(changed_recipe, name=self.name + "".join(f"+{f}" for f in changed))


def default_recipe():
    """onnx2snn's method: per-channel thresholds (trained bounds kept), theta/2, the spread, and layer-wise
    calibration unless defaults.LAYERWISE turns it off (read at each call)."""
    return Recipe(name="default", layerwise=defaults.LAYERWISE)


PRESETS = {
    # Bu et al., AAAI 2022: one threshold per layer, every neuron starting at theta/2, nothing else
    "bu2022": Recipe(name="bu2022", per_channel=False, spread=0.0, layerwise=False),
    # the classic rate conversion: the layer's maximum activation, membranes starting at 0
    "classic": Recipe(name="classic", threshold="max", per_channel=False, v_init=0.0, spread=0.0, layerwise=False),
    # QCFS nets (Bu et al., ICLR 2022): the trained bound lambda is the threshold, theta/2 is exact at T = L
    "qcfs": Recipe(name="qcfs", threshold="clip", per_channel=False, spread=0.0, layerwise=False, bounds_only=True),
}
NAMES = ("default", *PRESETS)


def get_recipe(recipe):
    """The Recipe for a preset name or a Recipe; a ValueError that lists the presets otherwise."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe == "default":
        return default_recipe()
    if recipe not in PRESETS:
        raise ValueError(f"unknown recipe {recipe!r}; the recipes are {', '.join(NAMES)}")
    return PRESETS[recipe]
