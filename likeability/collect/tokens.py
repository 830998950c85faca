"""Access tokens: read from a file or an environment variable, and kept out of every text we emit."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from likeability.config import TokenSource

# A token prefix longer than this is treated as secret wherever it appears.
SHOWN_PREFIX = 4


class TokenError(ValueError):
    """Tokens could not be read; the message names the source, never a token."""


class CollectionError(RuntimeError):
    """Collection cannot go on (no token given, or every token retired or dead); committed units are kept for a
    re-run."""


def read_tokens(source: TokenSource) -> list[str]:
    """Tokens from `source.file` and/or `source.env`, one per line; blank lines and `#` comments skipped."""
    lines: list[str] = []
    if source.file:
        path = Path(source.file).expanduser()
        if not path.is_file():
            raise TokenError(f"token file {path} not found")
        lines += path.read_text().splitlines()
    if source.env:
        if source.env not in os.environ:
            raise TokenError(f"environment variable {source.env} is not set")
        lines += os.environ[source.env].splitlines()
    tokens = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return list(dict.fromkeys(tokens))


def mint_tokens(count: int) -> list[str]:
    """Fresh random tokens in the shape of Instagram's, for the bundled simulator only."""
    return [f"IGQVJ{secrets.token_urlsafe(48)}" for _ in range(count)]


class Redactor:
    """Replaces every token, and every run of more than SHOWN_PREFIX of a token's leading characters."""

    MASK = "[token]"

    def __init__(self, tokens: list[str]):
        self._by_head: dict[str, list[str]] = {}
        for token in {t for t in tokens if len(t) > SHOWN_PREFIX}:
            self._by_head.setdefault(token[: SHOWN_PREFIX + 1], []).append(token)
        heads = "|".join(re.escape(head) for head in self._by_head)
        self._heads = re.compile(heads) if heads else None

    def __call__(self, text: str) -> str:
        if self._heads is None:
            return text
        pieces, pos = [], 0
        while match := self._heads.search(text, pos):
            start = match.start()
            # Of all tokens sharing this head, mask the longest run that matches, so no tail is left behind.
            end = max(start + _shared_prefix(text, start, token) for token in self._by_head[match.group()])
            pieces += [text[pos:start], self.MASK]
            pos = end
        pieces.append(text[pos:])
        return "".join(pieces)

    @staticmethod
    def label(index: int) -> str:
        """How a token is named in logs, task names and tables: by position, never by content."""
        return f"token#{index}"


def _shared_prefix(text: str, start: int, token: str) -> int:
    length = 0
    while length < len(token) and start + length < len(text) and text[start + length] == token[length]:
        length += 1
    return length
