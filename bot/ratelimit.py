"""A per-user sliding-window rate limit, so one user sending a flood of photos cannot starve the others, and a
quiet period so that a flood of refused messages gets one answer, not one each (Telegram allows a bot about one
message a second per chat)."""

import time
from collections import defaultdict, deque

QUIET_SECONDS = 10.0  # after a refusal, further refusals to the same user within this time get no answer


class RateLimiter:
    """At most `limit` events per user in any `window_seconds`; kept in memory, forgotten on restart."""

    def __init__(self, limit: int, window_seconds: float = 60.0, clock=time.monotonic):
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._events: dict[int, deque[float]] = defaultdict(deque)
        self._refused_at: dict[int, float] = {}

    def allow(self, user_id: int) -> bool:
        """Count one event for the user and say whether it is within the limit (refused ones do not count)."""
        now = self._clock()
        events = self._events[user_id]
        while events and now - events[0] >= self.window_seconds:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def first_refusal(self, user_id: int) -> bool:
        """Whether a refusal should be answered: yes, unless the user was answered one in the last few seconds."""
        now = self._clock()
        last = self._refused_at.get(user_id)
        if last is not None and now - last < QUIET_SECONDS:
            return False
        self._refused_at[user_id] = now
        return True

    def forget(self, user_id: int) -> None:
        """Drop what is remembered about the user (after /forget)."""
        self._events.pop(user_id, None)
        self._refused_at.pop(user_id, None)
