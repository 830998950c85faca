"""The embed tests' torch: an empty hub cache of its own per test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch):
    """An empty hub cache per test, so nothing reads or writes the user's ~/.cache/torch."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home
