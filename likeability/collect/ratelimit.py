"""A sliding-window call counter with time passed in, so tests drive it without sleeping.

The simulator uses it to decide when a token is over its limit; the collector uses it to wait just long
enough never to get there (the approach of instaloader's RateController, reduced to one window).
"""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    """At most `limit` events in any `window` seconds."""

    def __init__(self, limit: int, window: float):
        if limit < 1 or window <= 0:
            raise ValueError(f"need limit >= 1 and window > 0, got limit={limit}, window={window}")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def count(self, now: float) -> int:
        """Events inside the window that ends at `now`."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        return len(self._times)

    def record(self, now: float) -> None:
        self.count(now)
        self._times.append(now)

    def wait(self, now: float) -> float:
        """Seconds from `now` until one more event fits; 0 when it fits now."""
        excess = self.count(now) - self.limit + 1
        if excess <= 0:
            return 0.0
        return self._times[excess - 1] + self.window - now

    def until_oldest_leaves(self, now: float) -> float:
        """Seconds from `now` until the oldest event inside the window drops out of it; 0 when it is empty."""
        return self._times[0] + self.window - now if self.count(now) else 0.0

    def usage(self, now: float) -> float:
        """Fraction of the limit used, as the Graph API's usage headers report it (1.0 = throttled)."""
        return self.count(now) / self.limit
