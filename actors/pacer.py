"""When may the next call with one access token start? Time is passed in, so tests never sleep."""

from __future__ import annotations

import math

from likeability.collect.ratelimit import SlidingWindow


class TokenPacer:
    """Keeps one token under its window, slows down when the server reports high usage, waits out blocks, and
    after a block restarts with one probe call, ramping up as answers come back (TCP's slow start).

    The local window is the first guard. The server's usage headers are the second: they also count calls this
    process does not know of (another client on the same token, a limit lower than configured), so past
    `slow_down_from` calls are spaced at the window's average rate, and at `pause_at` none goes out until the
    oldest call of ours has left the window. Spacing follows a schedule of slots rather than "interval after the
    last call", because every sleep wakes a little late and those delays would otherwise add up (measured: 10%
    of the ceiling lost). The real API lengthens a block for every call made during it, hence no call at all
    while blocked, and a single probe afterwards: a burst would find the window full again.
    """

    def __init__(
        self,
        calls: int,
        window: float,
        max_in_flight: int = 1,
        slow_down_from: float = 0.8,
        pause_at: float = 1.0,
        margin: float = 0.02,
    ):
        # The server counts a call when it arrives, a little after we send it; a slightly longer local window
        # keeps network jitter from squeezing limit + 1 arrivals into one server window.
        self.window = SlidingWindow(calls, window * (1 + margin))
        self.slow_down_from = slow_down_from
        self.pause_at = pause_at
        self.reported_usage = 0.0
        self.blocked_until = 0.0
        self.interval = self.window.window / self.window.limit
        self.max_in_flight = max_in_flight
        self.allowed_in_flight = max_in_flight
        self.in_flight = 0
        self._next_slot = float("-inf")

    def delay(self, now: float) -> float:
        """Seconds to wait before the next call may start: 0 when it may start now, infinity until a call in
        flight is answered."""
        if self.in_flight >= self.allowed_in_flight:
            return math.inf
        wait = max(self.window.wait(now), self.blocked_until - now)
        if self.reported_usage >= self.slow_down_from:
            wait = max(wait, self._next_slot - now)
        return max(wait, 0.0)

    def record_call(self, now: float) -> None:
        self.window.record(now)
        self.in_flight += 1
        # Late by less than a slot: the next slot follows this one's. Early (not spacing yet) or later than that:
        # count from now, so neither a burst nor an idle spell moves the schedule.
        late = now - self._next_slot
        self._next_slot = (self._next_slot if 0 <= late < self.interval else now) + self.interval

    def record_answer(
        self,
        now: float,
        refused: bool = False,
        failed: bool = False,
        usage: float = 0.0,
        regain_seconds: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """What one answer said of the token: the block it announced, if any, and whether one more call may fly.

        Retry-After counts seconds and wins; the usage header's regain estimate counts whole minutes, rounded
        up, and a sliding window is empty one window after our last call anyway, so it is capped there.
        """
        self.in_flight -= 1
        self.reported_usage = usage
        if retry_after is not None and (refused or retry_after > 0):
            self.block(now, retry_after)
        elif regain_seconds > 0:
            self.block(now, min(regain_seconds, self.window.window))
        elif refused:
            # No hint: a whole window, the longest a sliding window can stay full after our last call.
            self.block(now, self.window.window)
        elif usage >= self.pause_at:
            # Full: the next call would be refused. One of ours leaving the window frees a place. Only when our
            # own window thought there was room (the real limit is lower) does the token restart from one call.
            lower_limit = self.window.count(now) < self.window.limit
            self.block(now, self.window.until_oldest_leaves(now) or self.interval, probe=lower_limit)
        if not (refused or failed) and now >= self.blocked_until:
            self.allowed_in_flight = min(self.max_in_flight, self.allowed_in_flight + 1)

    def block(self, now: float, seconds: float, probe: bool = True) -> None:
        """No call for `seconds`, then one probe: calls made while throttled would lengthen the block."""
        self.blocked_until = max(self.blocked_until, now + seconds)
        if probe:
            self.allowed_in_flight = 1
