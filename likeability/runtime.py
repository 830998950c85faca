"""What a stage reaches at run time besides its config: never written into the run folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    """What stages reach that is not config and is never saved with the run: endpoints and secrets."""

    api_base_url: str
    tokens: Callable[[], list[str]]  # read only when a stage needs them, so finished runs need no tokens
    # Accounts to collect when config names none: the simulator's world in the demo.
    default_usernames: tuple[str, ...] = ()
