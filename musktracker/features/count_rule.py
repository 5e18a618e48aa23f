"""Counting rules: which post kinds a count includes ("originals, quotes and reposts only").

Buckets store a count per kind, so any rule is a sum of bucket columns; features and
models are computed per rule and keyed by its canonical name.
"""

from __future__ import annotations

from dataclasses import dataclass

from musktracker.db.models import PostKind

KIND_COLUMNS: dict[PostKind, str] = {
    PostKind.ORIGINAL: "original_count",
    PostKind.REPLY: "reply_count",
    PostKind.QUOTE: "quote_count",
    PostKind.REPOST: "repost_count",
    PostKind.UNKNOWN: "unknown_count",
}


@dataclass(frozen=True)
class CountRule:
    """A set of post kinds to count; `name` is "all" or the sorted kinds joined by commas."""

    kinds: frozenset[PostKind]

    @property
    def name(self) -> str:
        if self.kinds == frozenset(PostKind):
            return "all"
        return ",".join(sorted(k.value for k in self.kinds))

    @property
    def columns(self) -> list[str]:
        return [KIND_COLUMNS[k] for k in sorted(self.kinds)]

    @classmethod
    def parse(cls, text: str | None) -> CountRule:
        """Parse `all` (or nothing) or a comma list such as `original,quote,repost`."""
        if text is None or text.strip().lower() in ("", "all"):
            return ALL_KINDS
        kinds = set()
        for part in text.split(","):
            try:
                kinds.add(PostKind(part.strip().lower()))
            except ValueError:
                allowed = ", ".join(k.value for k in PostKind)
                raise ValueError(
                    f"--kinds: {part.strip()!r} is not a post kind (use 'all' or {allowed})"
                ) from None
        return cls(frozenset(kinds))


ALL_KINDS = CountRule(frozenset(PostKind))
