"""What collection has learnt of each access token, kept in the run folder: a token retired by code 190 and a
token still blocked stay so when the run is restarted, and a restarted TokenActor takes its block back.

Tokens are named by a fingerprint (the first 16 hex digits of their SHA-256), never by their content; block
ends are whole wall-clock seconds (rounded up), since monotonic clocks do not survive a restart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from likeability.run import RunFolder

LEDGER = "collect/tokens.json"


@dataclass(frozen=True)
class TokenRecord:
    retired: bool = False
    blocked_until: float = 0.0  # Unix seconds


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenLedger:
    def __init__(self, run: RunFolder):
        self._run = run
        text = run.read_text(LEDGER)
        self._records = {key: TokenRecord(**value) for key, value in json.loads(text or "{}").items()}

    def get(self, token: str) -> TokenRecord:
        return self._records.get(fingerprint(token), TokenRecord())

    def update(self, changes: dict[str, TokenRecord]) -> None:
        """Record these tokens' (token -> record) news; the file is rewritten only when something changed."""
        news = {fingerprint(token): record for token, record in changes.items()}
        if all(self._records.get(key) == record for key, record in news.items()):
            return
        self._records.update(news)
        self._run.write_text(LEDGER, json.dumps({k: asdict(v) for k, v in self._records.items()}, indent=2))
