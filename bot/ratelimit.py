"""A per-user sliding-window rate limit, so one user sending a flood of photos cannot starve the others, and a
quiet period so that a flood of refused messages gets one answer, not one each (Telegram allows a bot about one
message a second per chat).

Both are counted in the database with wall-clock time, so every bot process (replica) sees the same counts.
"""

import time

from db import Database

QUIET_SECONDS = 10.0  # after a refusal, further refusals to the same user within this time get no answer


class RateLimiter:
    """At most `limit` photos per user in any `window_seconds`, counted in the database."""

    def __init__(self, database: Database, limit: int, window_seconds: float = 60.0, clock=time.time):
        self.limit = limit
        self.window_seconds = window_seconds
        self._database = database
        self._clock = clock

    async def allow(self, user_id: int, update_id: int) -> bool:
        """Count the user's photo (the update that brought it) and say whether it is within the limit (refused ones
        do not count; one delivered again counts once)."""
        return await self._database.count_photo(user_id, update_id, self.limit, self.window_seconds, self._clock())

    async def first_refusal(self, user_id: int) -> bool:
        """Whether a refusal should be answered: yes, unless the user was answered one in the last few seconds."""
        return await self._database.note_refusal(user_id, self._clock(), QUIET_SECONDS)
