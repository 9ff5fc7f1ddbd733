"""Op converters; importing this package registers all of them."""

from . import (activation, control, conv, elementwise, linear, normalization, padding, pool, reduce,  # noqa: F401
               compensation, scatter, shape, signed, spiking)
