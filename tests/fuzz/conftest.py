"""Hypothesis profiles of the fuzz suite: "ci" (50 cases per test, the default, under a minute in all) and "long"
(10,000 cases per test), chosen with HYPOTHESIS_PROFILE=long."""

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
               database=None)
settings.register_profile("ci", max_examples=50, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=10_000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
