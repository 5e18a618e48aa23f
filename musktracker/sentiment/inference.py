"""Serving: the champion model, batched, cached, and swapped in when the alias moves.

A `Predictor` asks MLflow which version holds `champion` at most every
SENTIMENT_RELOAD_SECONDS and loads the new one when it changed, so a running API or worker
picks up a promotion without a restart. When torch is not installed and the champion is a
transformer, the newest classic version serves instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import structlog

from musktracker.sentiment.artifact import Runtime, SentimentModel, load_version
from musktracker.sentiment.cache import PredictionCache, cache_key
from musktracker.sentiment.data import LABELS, SentimentDataError
from musktracker.sentiment.tracking import Tracker

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One text's label, class probabilities and the model version that produced them."""

    label: str
    probabilities: dict[str, float]
    model_version: str
    cached: bool = False

    @property
    def confidence(self) -> float:
        return max(self.probabilities.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "probabilities": self.probabilities,
            "confidence": self.confidence,
            "model_version": self.model_version,
        }


def prediction_of(probabilities: list[float], version: str, cached: bool = False) -> Prediction:
    best = int(np.argmax(probabilities))
    return Prediction(
        LABELS[best], dict(zip(LABELS, map(float, probabilities), strict=True)), version, cached
    )


@dataclass(frozen=True)
class LoadedModel:
    version: str
    model: SentimentModel
    run_id: str = ""
    """The MLflow run that produced the artifact: part of the cache key, so a rebuilt
    registry whose version numbers start again never reuses another model's entries."""


class Predictor:
    """Scores texts with the current champion; thread-safe reloads."""

    def __init__(
        self,
        tracker: Tracker,
        cache: PredictionCache,
        threads: int = 1,
        batch_size: int = 64,
        reload_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        runtime: Runtime = "torch",
    ) -> None:
        self.tracker = tracker
        self.cache = cache
        self.threads = threads
        self.batch_size = batch_size
        self.reload_seconds = reload_seconds
        self.clock = clock
        self.runtime = runtime
        self._loaded: LoadedModel | None = None
        self._checked_at = -float("inf")
        self._lock = threading.Lock()

    def _load(self, version: str) -> LoadedModel:
        """`version` in memory; files that are missing or damaged are a SentimentDataError
        naming it (the API's 503), not a library error."""
        chosen = self.tracker.version(int(version))
        try:
            directory = self.tracker.local_dir(chosen)
            return LoadedModel(
                version,
                load_version(directory, version, self.threads, self.runtime),
                chosen.run_id or "",
            )
        except ImportError:
            classic = [v for v in self.tracker.versions() if v.tags.get("kind") == "classic"]
            if not classic:
                raise SentimentDataError(
                    f"champion version {version} needs torch, which is not installed, and no "
                    "classic version is registered: run `musktracker sentiment train --classic`"
                ) from None
            fallback = classic[-1]
            log.warning("sentiment.fallback_classic", champion=version, using=fallback.version)
            return LoadedModel(
                str(fallback.version),
                load_version(
                    self.tracker.local_dir(fallback), str(fallback.version), self.threads
                ),
                fallback.run_id or "",
            )

    @property
    def loaded_version(self) -> str | None:
        """The version in memory now, without checking the alias (None before a load)."""
        loaded = self._loaded
        return loaded.version if loaded is not None else None

    def current(self) -> LoadedModel:
        """The champion, reloaded if the alias moved since the last check."""
        with self._lock:
            now = self.clock()
            if self._loaded is not None and now - self._checked_at < self.reload_seconds:
                return self._loaded
            self._checked_at = now
            champion = self.tracker.champion()
            if champion is None:
                if self._loaded is not None:
                    return self._loaded
                raise SentimentDataError(
                    f"no version of {self.tracker.model_name!r} has the champion alias: run "
                    "`musktracker sentiment train` (or `sentiment promote VERSION`) first"
                )
            wanted = str(champion.version)
            if self._loaded is None or self._loaded.version != wanted:
                previous = self._loaded.version if self._loaded else None
                try:
                    self._loaded = self._load(wanted)
                except SentimentDataError as exc:
                    if self._loaded is None:
                        raise
                    # A broken new champion must not take down a process that serves: keep
                    # the model in memory and try again after the next reload interval.
                    log.error(
                        "sentiment.champion_not_loaded",
                        version=wanted,
                        serving=self._loaded.version,
                        error=str(exc),
                    )
                    return self._loaded
                log.info("sentiment.model_loaded", version=wanted, previous=previous)
            return self._loaded

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Predictions in input order: cache hits first, the rest scored in batches."""
        loaded = self.current()
        name = self.tracker.model_name
        keys = [cache_key(name, loaded.version, loaded.run_id, text) for text in texts]
        found = self.cache.get_many(keys)
        missing = [i for i, hit in enumerate(found) if hit is None]
        fresh: dict[str, list[float]] = {}
        if missing:
            unique = list(dict.fromkeys(texts[i] for i in missing))
            scored = loaded.model.predict_proba(unique, self.batch_size)
            by_text = {text: row.tolist() for text, row in zip(unique, scored, strict=True)}
            fresh = {keys[i]: by_text[texts[i]] for i in missing}
            self.cache.set_many(fresh)
        return [
            prediction_of(hit, loaded.version, cached=True)
            if hit is not None
            else prediction_of(fresh[keys[i]], loaded.version)
            for i, hit in enumerate(found)
        ]
