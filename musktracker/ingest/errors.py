"""What can go wrong talking to X, as exceptions the CLI reports in one line."""

from __future__ import annotations


class XApiError(RuntimeError):
    """Ingestion from X could not go on; the message says why and what to do."""


class XAuthError(XApiError):
    """401/403 or no token: retrying cannot help."""


class XRateLimitError(XApiError):
    """429 that did not clear within the allowed waits."""


class XUnavailableError(XApiError):
    """5xx, timeouts or dropped connections outlasted the bounded retries."""


class XStatusError(XApiError):
    """Any other HTTP error status (400, 404, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class XResponseError(XApiError):
    """X answered with a body we cannot use; the message names the endpoint and problem."""


class XRefusedError(XApiError):
    """HTTP 200 whose body holds only X's `errors` (unknown or suspended user, a protected
    timeline): X's own title and detail, not a schema complaint."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        """X's problem type URI, e.g. https://api.twitter.com/2/problems/resource-not-found."""
