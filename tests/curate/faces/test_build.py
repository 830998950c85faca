"""The backend choice: the detector the config names, and a clear error for a missing model file."""

from __future__ import annotations

from pathlib import Path

import pytest

from likeability.config import FacesConfig
from likeability.curate.faces.build import build_detector
from likeability.curate.faces.retinaface import RetinaFaceMobileNet


def test_build_detector_picks_the_configured_backend(tmp_path: Path) -> None:
    assert isinstance(build_detector(FacesConfig()), RetinaFaceMobileNet)
    # The scrfd backend is the one that looks for its model file (tests/curate/faces/test_scrfd.py runs it on a real one).
    with pytest.raises(FileNotFoundError, match=r"faces\.scrfd_model=.*missing\.onnx'?: no such file"):
        build_detector(FacesConfig(backend="scrfd", scrfd_model=str(tmp_path / "missing.onnx")))
