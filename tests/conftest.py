"""Shared fixtures."""

import os
import socket

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


@pytest.fixture(scope="session")
def served_app():
    """The app launched once on a free loopback port, as `python app.py` serves it (`app.demo`, in this
    process); yields its URL."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    pytest.importorskip("gradio")
    import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(app.demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.demo.close()


@pytest.fixture
def small_studies(monkeypatch):
    """Uncertainty studies whose flow trains 40 steps instead of the app's 400 (every model is still fitted;
    the flow's fit is most of a study's time). In the served app too: it runs in this process."""
    from playground.app import views

    monkeypatch.setattr(views, "STUDY_FLOW_STEPS", 40)
