"""One simulated token as the server sees it: its real limit, throttle blocks and death, and the calls a client
made although it had already been told the token was throttled or dead.

Those calls are what issue 13 is about: the real API lengthens a block for every call made during it. A notice
(a refusal, or the first code 190) counts as told once it left the server intact. A call then counts against
the client when it arrives
- during a block, on a connection that carried one of the block's notices (HTTP/1.1 sends one request at a
  time per connection, so the client had read it), or more than the grace after the block's first notice
  (calls sent before the client could read it are in flight, not misconduct);
- beside the probe: after a block, while the first accepted call (the probe) has not been answered yet, since
  a client should restart with one call and wait to hear how it went;
- after the token died, by the same two rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from likeability.collect.ratelimit import SlidingWindow
from likeability.config import TokenBehaviour


@dataclass(frozen=True)
class Verdict:
    outcome: Literal["accepted", "refused", "dead"]
    usage: float  # of the token's real limit, as the usage headers report it
    wait: float  # seconds until the window takes a call again (refusals)


@dataclass
class Notices:
    """When the current block's (or the death's) first notice left, and the connections that carried one."""

    first: float | None = None
    connections: set = field(default_factory=set)

    def heard(self, now: float, connection: object, grace: float) -> bool:
        return connection in self.connections or (self.first is not None and now > self.first + grace)


class TokenWatch:
    def __init__(self, behaviour: TokenBehaviour, window: SlidingWindow, latency: float, grace: float):
        self.behaviour = behaviour
        self.window = window
        self.accepted = 0
        self.while_throttled = 0
        self.beside_probe = 0
        self.after_death = 0
        self._latency = latency
        self._grace = grace
        self._blocked = False
        self._dead = False
        self._notices = Notices()
        self._probe_answered_at: float | None = None

    def arrive(self, now: float, connection: object = None) -> Verdict:
        """Judge a call arriving at `now` on `connection`; its answer leaves `latency` later."""
        dies_after = self.behaviour.dies_after_calls
        self._dead = self._dead or (dies_after is not None and self.accepted >= dies_after)
        if self._dead:
            self.after_death += self._notices.heard(now, connection, self._grace)
            return Verdict("dead", 0.0, 0.0)
        if self._probe_answered_at is not None and now < self._probe_answered_at:
            self.beside_probe += 1
        # Every call counts, also one made while blocked: hammering a blocked token keeps it blocked.
        self.window.record(now)
        usage = self.window.usage(now)
        if usage > 1.0:
            self.while_throttled += self._blocked and self._notices.heard(now, connection, self._grace)
            self._blocked = True
            return Verdict("refused", usage, self.window.wait(now))
        if self._blocked:
            self._probe_answered_at = now + self._latency
            self._blocked = False
            self._notices = Notices()
        self.accepted += 1
        return Verdict("accepted", usage, 0.0)

    def tell(self, now: float, connection: object = None) -> None:
        """A refusal or death notice left intact at `now` on `connection`."""
        if self._notices.first is None:
            self._notices.first = now
        self._notices.connections.add(connection)

    def counts(self) -> dict[str, int]:
        return {
            "calls_while_throttled": self.while_throttled,
            "calls_beside_probe": self.beside_probe,
            "calls_after_death": self.after_death,
        }
