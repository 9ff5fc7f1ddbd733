"""Find the activations that become IF neurons, and everything that blocks conversion.

Recognized sites (each becomes one IF node; its output tensor is what the rest of the graph reads):

- ``Relu(x)`` and ``Max(x, 0)``: threshold from calibration statistics;
- ``Clip(x, 0, lam)`` (ReLU6 included): trained bound lam;
- ``Min(Relu(x), lam)`` and ``Clip(Relu(x), 0, lam)``: trained-threshold ReLU as exporters write it;
- ``Relu(x) - Relu(x - lam)`` (also with ``x + (-lam)``): the same function written with two ReLUs;
- QCFS, ``lam / L * clip(floor(x * L / lam + 0.5), 0, L)`` in any arrangement of Mul/Div/Add/Sub/Clip/
  Min/Max/Relu around one Floor: recognized by evaluating the chain, which must equal that formula.

A final Softmax/LogSoftmax/Sigmoid (monotone, argmax unchanged) is dropped from the spiking output.
Everything else that blocks conversion is reported, all at once, by node name and op (onnx2snn.sites.blockers),
except what ExpectationCompensation units compute (onnx2snn.sites.compensate). Weight layers that would read a real
value (a unit's output, a current) get a signed IF neuron in front (onnx2snn.sites.signed_sites).
"""

from dataclasses import dataclass, field

import numpy as np
import onnx_graphsurgeon as gs

from .blockers import blockers
from .compensate import compensations
from .signed_sites import signed_sites

CONVERTIBLE_OUTPUT_OPS = ("Softmax", "LogSoftmax", "Sigmoid")


@dataclass
class Site:
    """One activation to replace: ``nodes`` (names) map ``input`` to ``output``."""

    name: str
    kind: str
    input: str
    output: str
    nodes: list
    bound: object = None  # trained clip bound (float or per-channel array), None for plain ReLU
    levels: int = None  # QCFS quantization levels L
    nodes_ops: list = field(default_factory=list)
    affine: tuple = None  # (alpha, beta): the IF input is alpha * input + beta (QCFS with folded scales)

    @property
    def replaced(self):
        """The ops replaced, e.g. "Relu+Min"."""
        return "+".join(self.nodes_ops)


@dataclass
class SiteReport:
    sites: list
    problems: list  # "node 'name' (Op): what to do": what blocks conversion
    dropped_output: list  # names of final monotone nodes to drop
    compensated: list = field(default_factory=list)  # onnx2snn.sites.compensate.Compensation units
    compensable: list = field(default_factory=list)  # "node 'name' (Op): why it does not spike", inside the units
    signed: list = field(default_factory=list)  # onnx2snn.sites.signed_sites.SignedSite: spikes for weight layers

    def refusal(self, spiking_only=False):
        """The message that convert refuses the model with (``spiking_only``: no compensation units allowed), or
        None when it converts; inspect prints the same."""
        refused = self.compensable + self.problems if spiking_only else self.problems
        if refused:
            return f"{len(refused)} node(s) cannot become spiking layers:\n" + "\n".join(f"  - {p}" for p in refused)
        if self.sites or self.signed:
            return None
        units = "".join(f"\n  - {p}" for p in self.compensable)
        return ("the model has no ReLU-like activation to turn into IF neurons and no weight layer that reads a "
                "computed value (which a signed IF neuron would turn into spikes)"
                + (f"; its nonlinearities would all be compensation units, which do not spike:{units}" if units else ""))


def _const(tensor):
    return np.asarray(tensor.values, dtype=np.float64) if isinstance(tensor, gs.Constant) else None


def _scalar(value):
    if value is None or value.size != 1:
        return None
    return float(value.reshape(-1)[0])


def _only_consumer(tensor):
    return tensor.outputs[0] if len(tensor.outputs) == 1 else None


def _clip_bounds(node):
    lo = _const(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1].name else None
    hi = _const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2].name else None
    lo = node.attrs.get("min", -np.inf) if lo is None and len(node.inputs) < 2 else lo
    hi = node.attrs.get("max", np.inf) if hi is None and len(node.inputs) < 3 else hi
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def _site(kind, nodes, bound=None, levels=None):
    first, last = nodes[0], nodes[-1]
    return Site(
        name=first.name or first.outputs[0].name,
        kind=kind,
        input=first.inputs[0].name,
        output=last.outputs[0].name,
        nodes=[n.name for n in nodes],
        bound=bound,
        levels=levels,
        nodes_ops=[n.op for n in nodes],
    )


def _bound_value(value):
    """A positive finite clip bound as float (or per-channel array), else None."""
    if value is None or not np.all(np.isfinite(value)) or np.any(value <= 0):
        return None
    return float(value.reshape(-1)[0]) if value.size == 1 else value.reshape(-1)


def _match_relu(node):
    """Relu, and the trained-threshold forms that start with it."""
    out = node.outputs[0]
    nxt = _only_consumer(out)
    if nxt is not None and nxt.op == "Min" and len(nxt.inputs) == 2:
        other = nxt.inputs[1] if nxt.inputs[0] is out else nxt.inputs[0]
        bound = _bound_value(_const(other))
        if bound is not None:
            return _site("relu_min", [node, nxt], bound)
    if nxt is not None and nxt.op == "Clip":
        lo, hi = _clip_bounds(nxt)
        bound = _bound_value(hi)
        if lo.size == 1 and float(lo) <= 0 and bound is not None:
            return _site("relu_clip", [node, nxt], bound)
    two_relu = _match_two_relus(node)
    if two_relu is not None:
        return two_relu
    return _site("relu", [node])


def _match_two_relus(node):
    """Relu(x) - Relu(x - lam), seen from either Relu."""
    out = node.outputs[0]
    sub = _only_consumer(out)
    if sub is None or sub.op != "Sub" or sub.inputs[0] is not out:
        return None
    other = sub.inputs[1]
    if not other.inputs or other.inputs[0].op != "Relu" or _only_consumer(other) is not sub:
        return None
    relu2 = other.inputs[0]
    shift = relu2.inputs[0]
    if not shift.inputs or shift.inputs[0].op not in ("Sub", "Add") or _only_consumer(shift) is not relu2:
        return None
    shifter = shift.inputs[0]
    if shifter.inputs[0] is not node.inputs[0]:
        return None
    amount = _scalar(_const(shifter.inputs[1]))
    if amount is None:
        return None
    bound = amount if shifter.op == "Sub" else -amount
    if bound <= 0:
        return None
    return _site("relu_minus_relu", [node, shifter, relu2, sub], bound)


_QCFS_OPS = ("Mul", "Div", "Add", "Sub", "Clip", "Min", "Max", "Relu")
QCFS_PROBE_RANGE = 100.0
QCFS_PROBE_POINTS = 2_000_001


def _evaluate_chain(chain, x):
    for node in chain:
        if node.op == "Floor":
            x = np.floor(x)
        elif node.op == "Relu":
            x = np.maximum(x, 0)
        elif node.op == "Clip":
            lo, hi = _clip_bounds(node)
            x = np.clip(x, lo, hi)
        else:
            value = _scalar(_const(node.inputs[1] if isinstance(node.inputs[1], gs.Constant) else node.inputs[0]))
            first_is_x = not isinstance(node.inputs[0], gs.Constant)
            x = {
                "Mul": lambda: x * value,
                "Div": lambda: x / value if first_is_x else value / x,
                "Add": lambda: x + value,
                "Sub": lambda: x - value if first_is_x else value - x,
                "Min": lambda: np.minimum(x, value),
                "Max": lambda: np.maximum(x, value),
            }[node.op]()
    return x


def _scalar_operand(node):
    if node.op in ("Relu", "Floor"):
        return True
    if node.op == "Clip":
        lo, hi = _clip_bounds(node)
        return lo.size == 1 and hi.size == 1
    consts = [t for t in node.inputs if isinstance(t, gs.Constant)]
    return len(node.inputs) == 2 and len(consts) == 1 and _scalar(_const(consts[0])) is not None


def _qcfs_chain(floor):
    """The scalar elementwise nodes before and after a Floor, in order."""
    before, tensor = [], floor.inputs[0]
    while tensor.inputs and tensor.inputs[0].op in ("Mul", "Div", "Add", "Sub") and _only_consumer(tensor):
        producer = tensor.inputs[0]
        if not _scalar_operand(producer):
            break
        before.insert(0, producer)
        tensor = next(t for t in producer.inputs if not isinstance(t, gs.Constant))
    after, out = [], floor.outputs[0]
    while _only_consumer(out) is not None and _only_consumer(out).op in _QCFS_OPS and _scalar_operand(
        _only_consumer(out)
    ):
        after.append(_only_consumer(out))
        out = after[-1].outputs[0]
    return before + [floor] + after


def _match_qcfs(floor):
    """A chain around one Floor that equals lam/L * clip(floor(a*x + b), 0, L) for some a > 0, b.

    Exporters and our own folding (a scale folded into the previous layer) change a and b, so the
    chain is evaluated on a fine probe and fitted. The IF neuron then receives u = alpha*x + beta with
    alpha = a*lam/L and beta = (b - 1/2)*lam/L, which makes it compute QCFS(u) exactly at T = L.
    """
    chain = _qcfs_chain(floor)
    probe = np.linspace(-QCFS_PROBE_RANGE, QCFS_PROBE_RANGE, QCFS_PROBE_POINTS)
    y = _evaluate_chain(chain, probe)
    lam = float(y.max())
    if lam <= 0 or float(y.min()) != 0.0 or np.any(np.diff(y) < 0):
        return None
    jumps = probe[1:][np.diff(y) > 0]
    levels = len(jumps)
    if levels < 1 or len(np.unique(np.round(y / lam, 6))) != levels + 1:
        return None
    a = 1.0 / float(np.mean(np.diff(jumps))) if levels > 1 else levels / lam
    b = 1.0 - a * float(jumps[0])
    expected = lam / levels * np.clip(np.floor(a * probe + b), 0, levels)
    if np.mean(~np.isclose(y, expected, rtol=1e-6, atol=1e-6 * lam)) > 1e-4:
        return None
    site = _site("qcfs", chain, lam, levels)
    site.affine = (a * lam / levels, (b - 0.5) * lam / levels)
    return site


def _drop_final(graph):
    """Monotone nodes at the very end (Softmax, ...), which the spiking output leaves out."""
    dropped = []
    for out in graph.outputs:
        if out.inputs and out.inputs[0].op in CONVERTIBLE_OUTPUT_OPS:
            dropped.append(out.inputs[0].name)
    return dropped


def find_sites(model):
    """Return a SiteReport for a normalized ``onnx.ModelProto``."""
    graph = gs.import_onnx(model)
    sites, claimed = [], set()
    for node in graph.nodes:
        if id(node) in claimed:
            continue
        site = None
        if node.op == "Relu":
            site = _match_relu(node)
        elif node.op == "Clip":
            lo, hi = _clip_bounds(node)
            if lo.size == 1 and float(lo) == 0.0:
                bound = _bound_value(hi)
                site = _site("clip", [node], bound) if bound is not None else _site("relu", [node])
        elif node.op == "Max" and len(node.inputs) == 2 and _scalar(_const(node.inputs[1])) == 0.0:
            site = _site("relu", [node])
        elif node.op == "Floor":
            site = _match_qcfs(node)
        if site is not None:
            by_name = {n.name: n for n in graph.nodes}
            claimed.update(id(by_name[name]) for name in site.nodes)
            sites.append(site)
    dropped = _drop_final(graph)
    skip = claimed | {id(node) for node in graph.nodes if node.name in dropped}
    found = blockers(model, graph, skip)
    units, left = compensations(graph, found, claimed)
    return SiteReport(sites=sites, problems=[str(b) for b in left], dropped_output=dropped, compensated=units,
                      compensable=[str(b) for b in found if all(b is not other for other in left)],
                      signed=signed_sites(graph, sites, units))
