"""Images inside the run, stored by content: the same bytes are stored once, whichever posts carry them."""

from __future__ import annotations

import hashlib

from likeability.image_decode import EXTENSIONS
from likeability.run import RunFolder


class ImageStore:
    """`images/<first two hex digits>/<sha256>.<ext>`, written atomically, never rewritten."""

    def __init__(self, run: RunFolder):
        self._run = run

    def put(self, body: bytes, image_format: str) -> tuple[str, str]:
        """Store `body` unless it is there already; returns (sha256, path inside the run)."""
        digest = hashlib.sha256(body).hexdigest()
        name = f"images/{digest[:2]}/{digest}.{EXTENSIONS[image_format]}"
        if not self._run.exists(name):
            self._run.write_bytes(name, body)
        return digest, name

    def get(self, name: str) -> bytes:
        data = self._run.read_bytes(name)
        if data is None:
            raise FileNotFoundError(f"{self._run.path(name)}: stored image is missing")
        return data
