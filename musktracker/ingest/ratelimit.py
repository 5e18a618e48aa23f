"""X's rate-limit headers, read on every response, and the pause they call for.

X limits each endpoint separately per 15-minute window and reports the state in
`x-rate-limit-limit`, `x-rate-limit-remaining` and `x-rate-limit-reset` (epoch seconds).
Rather than run into a 429, the client spreads its last few calls over what is left of
the window and waits for the reset when nothing is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset_at: float
    """Epoch seconds when the window resets."""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        """The state the headers report, or None when they are absent or unreadable."""
        try:
            return cls(
                limit=int(headers["x-rate-limit-limit"]),
                remaining=int(headers["x-rate-limit-remaining"]),
                reset_at=float(headers["x-rate-limit-reset"]),
            )
        except (KeyError, ValueError):
            return None

    def shifted(self, seconds: float) -> RateLimit:
        """The same limit with its reset moved by `seconds` (onto another clock)."""
        return RateLimit(self.limit, self.remaining, self.reset_at + seconds)

    def seconds_to_reset(self, now: float) -> float:
        return max(self.reset_at - now, 0.0)

    def pause_before_next(self, now: float, low_water: float = 0.1) -> float:
        """How long to wait before the next call to this endpoint.

        No pause while more than `low_water` of the window's calls remain; below that,
        the remaining calls are spread evenly until the reset; at zero, wait for the reset.
        """
        if self.remaining > max(1, int(self.limit * low_water)):
            return 0.0
        return self.seconds_to_reset(now) / (self.remaining + 1)
