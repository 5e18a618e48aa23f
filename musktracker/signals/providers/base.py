"""What an enrichment provider is: a name, the chains it knows, and one HTTP lookup."""

from __future__ import annotations

from typing import Any, Protocol

import httpx


class ProviderError(RuntimeError):
    """A provider call that failed; `code` is the HTTP status or a short failure kind."""

    def __init__(self, provider: str, code: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.code = code


class Provider(Protocol):
    """Looks up one token and returns flat features prefixed with its name."""

    name: str

    def supports(self, chain: str) -> bool: ...

    def fetch(self, chain: str, token_ca: str) -> dict[str, Any]: ...


def get_json(client: httpx.Client, provider: str, url: str, **params: str) -> Any:
    """GET `url` and decode JSON, turning every failure into a ProviderError."""
    try:
        response = client.get(url, params=params or None)
    except httpx.TimeoutException:
        raise ProviderError(provider, "timeout", f"timed out: {url}") from None
    except httpx.HTTPError as exc:
        raise ProviderError(provider, "network", f"{type(exc).__name__}: {url}") from None
    if response.status_code != 200:
        raise ProviderError(
            provider, str(response.status_code), f"HTTP {response.status_code} from {url}"
        )
    try:
        return response.json()
    except ValueError:
        raise ProviderError(provider, "bad_json", f"response from {url} is not JSON") from None
