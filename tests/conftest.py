"""Shared fixtures."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """Model tests use tiny tensors: on a busy 2-core machine, OpenMP threads waiting on each other make
    such ops up to ~100x slower. Set per test, after module fixtures have rendered their data (the
    renderer's numba/OpenMP pool puts torch back to all cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
