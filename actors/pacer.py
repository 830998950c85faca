"""When may the next call with one access token start? Time is passed in, so tests never sleep."""

from __future__ import annotations

from likeability.collect.ratelimit import SlidingWindow


class TokenPacer:
    """Keeps one token under its window, slows down when the server reports high usage, and waits out blocks.

    The local window is the first guard. The server's usage headers are the second: they also count calls this
    process does not know of (another client on the same token, or calls made before an actor restart), so once
    reported usage passes `slow_down_from`, calls are spaced at the window's average rate instead of bursting.
    Spacing follows a schedule of slots rather than "interval after the last call", because every sleep wakes a
    little late and those delays would otherwise add up (measured: 10% of the ceiling lost).
    """

    def __init__(self, calls: int, window: float, slow_down_from: float = 0.8, margin: float = 0.02):
        # The server counts a call when it arrives, a little after we send it; a slightly longer local window
        # keeps network jitter from squeezing limit + 1 arrivals into one server window.
        self.window = SlidingWindow(calls, window * (1 + margin))
        self.slow_down_from = slow_down_from
        self.reported_usage = 0.0
        self.blocked_until = 0.0
        self.interval = self.window.window / self.window.limit
        self._next_slot = float("-inf")

    def delay(self, now: float) -> float:
        """Seconds to wait before the next call may start; 0 when it may start now."""
        wait = max(self.window.wait(now), self.blocked_until - now)
        if self.reported_usage >= self.slow_down_from:
            wait = max(wait, self._next_slot - now)
        return max(wait, 0.0)

    def record_call(self, now: float) -> None:
        self.window.record(now)
        # Late by less than a slot: the next slot follows this one's. Early (not spacing yet) or later than that:
        # count from now, so neither a burst nor an idle spell moves the schedule.
        late = now - self._next_slot
        self._next_slot = (self._next_slot if 0 <= late < self.interval else now) + self.interval

    def observe(self, usage: float, regain_seconds: float, now: float) -> None:
        """Take in what a response's usage headers said."""
        self.reported_usage = usage
        if regain_seconds > 0:
            self.block(now, regain_seconds)

    def block(self, now: float, seconds: float) -> None:
        """Stop all calls for `seconds`: calls made while throttled would lengthen the block."""
        self.blocked_until = max(self.blocked_until, now + seconds)
