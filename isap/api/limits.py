"""How many requests one account may make through its API tokens: the policy's `api_requests_per_minute`, over
any sixty seconds (by account, not by token: an account may hold many tokens).

A sliding window, kept in the API server's memory: one process serves the API
(`isap api`), so every request of an account is counted here.  The clock is
given, so the limit is tested without waiting for time to pass.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Callable

WINDOW_SECONDS = 60.0


class RateLimit:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_for(self, account: str) -> int | None:
        """Count one request of `account`; None when it may go ahead, else the whole seconds until it may."""
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(account, deque())
            while seen and now - seen[0] >= WINDOW_SECONDS:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return max(1, math.ceil(seen[0] + WINDOW_SECONDS - now))
            seen.append(now)
            return None
