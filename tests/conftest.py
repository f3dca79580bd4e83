"""Shared test setup: hypothesis profiles, and a check that no test leaves grad mode switched off.

HYPOTHESIS_PROFILE=dev runs the property tests with many more examples (the default, "ci", is small,
fixed and derandomized so that the suite is fast and repeatable).
"""
import os
import sys

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))           # `from harness import check`

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _grad_mode_restored(request):
    """Grad mode is on after every test; the engine's own test files fail if they left it off."""
    import tinytape
    yield
    if not tinytape.is_grad_enabled():
        tinytape.set_grad_enabled(True)
        if request.module.__name__.split(".")[-1].startswith(ENGINE_TESTS):
            pytest.fail("the test left grad mode off")


ENGINE_TESTS = ("test_parity", "test_properties", "test_gradcheck", "test_lecture", "test_tape",
                "test_errors", "test_harness", "test_dtypes", "test_random", "test_misuse", "test_long_runs",
                "test_checkpoints")
