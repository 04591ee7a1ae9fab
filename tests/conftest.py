"""Shared test setup.

Run twice (README): plain, where CPU tensors use reference.py and CUDA tensors (if any) the compiled
kernels; and with TRITON_INTERPRET=1, where CPU tensors run the Triton kernels in the interpreter.
"""
import os

import pytest
import torch
from hypothesis import HealthCheck, settings

INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

settings.register_profile("ci", max_examples=40 if not INTERPRETING else 25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def pytest_collection_modifyitems(config, items):
    skip_compile = pytest.mark.skip(reason="torch.compile is not run under the Triton interpreter")
    for item in items:
        if INTERPRETING and "compile" in item.keywords:
            item.add_marker(skip_compile)
