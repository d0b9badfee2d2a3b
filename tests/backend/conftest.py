"""Backend test fixtures."""

import pytest


@pytest.fixture
def keep_opset(monkeypatch):
    """Convert models at their own opset: the frontend would otherwise upgrade them to opset 17.

    Emitters registered for old opset ranges (Squeeze < 13, Softmax < 13, Upsample...) are only
    reached when the upgrade fails; this makes them reachable from a test.
    """
    import mindconverter.frontend.onnx as frontend

    monkeypatch.setattr(frontend, "_upgrade", lambda model, opset, path: model)
