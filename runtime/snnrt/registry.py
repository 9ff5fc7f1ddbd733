"""Registry of op converters keyed by (domain, op type, since-version).

A converter turns one ONNX node into a callable ``torch.nn.Module``; it is looked up with the model's
opset for the node's domain and the registration with the highest since-version not above it wins.
"""

from dataclasses import dataclass

ONNX_DOMAIN = ""


@dataclass(frozen=True)
class OpKey:
    domain: str
    op_type: str
    since_version: int


class DuplicateConverterError(RuntimeError):
    """Two converters were registered for the same (domain, op type, since-version)."""


class ConverterRegistry:
    def __init__(self):
        self._converters = {}

    def register(self, op_type, since_version=1, domain=ONNX_DOMAIN):
        """Decorator: register ``fn(node) -> torch.nn.Module`` for op_type from since_version on."""

        def decorate(fn):
            key = OpKey(domain, op_type, since_version)
            if key in self._converters:
                raise DuplicateConverterError(f"converter for {key} registered twice")
            self._converters[key] = fn
            return fn

        return decorate

    def lookup(self, domain, op_type, opset):
        """Return the converter for this op at this opset, or None if there is none."""
        best = None
        for key, fn in self._converters.items():
            if key.domain == domain and key.op_type == op_type and key.since_version <= opset:
                if best is None or key.since_version > best[0]:
                    best = (key.since_version, fn)
        return best[1] if best else None

    def op_types(self, domain=ONNX_DOMAIN):
        """Sorted op types registered for a domain."""
        return sorted({k.op_type for k in self._converters if k.domain == domain})


REGISTRY = ConverterRegistry()
register = REGISTRY.register
