"""A circuit breaker per provider: stop calling a provider that keeps failing.

Closed: calls go through. After `failures` failures in a row it opens: calls are skipped
(the cached answer is used) for `cooldown` seconds; then one trial call is let through
(half-open) and its outcome closes or reopens the breaker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_running = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        """May a call go out now?"""
        with self._lock:
            state = self.state
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            self._trial_running = False
            if self.failures >= self.threshold or self.opened_at is not None:
                self.opened_at = self.clock()
