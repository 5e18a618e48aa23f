from musktracker.sentiment.cache import MemoryCache, cache_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_key_depends_on_model_identity_and_text_but_holds_no_text():
    key = cache_key("sentiment", "3", "run-a", "secret words")
    assert "secret" not in key
    assert key != cache_key("sentiment", "4", "run-a", "secret words")
    assert key != cache_key("sentiment", "3", "run-a", "other words")
    # Another model name, or the same version number from a rebuilt registry (new run),
    # never shares entries.
    assert key != cache_key("other-sentiment", "3", "run-a", "secret words")
    assert key != cache_key("sentiment", "3", "run-b", "secret words")


def test_entries_expire_after_ttl():
    clock = Clock()
    cache = MemoryCache(size=10, ttl_seconds=5, clock=clock)
    cache.set_many({"a": [0.1, 0.2, 0.7]})
    assert cache.get_many(["a", "b"]) == [[0.1, 0.2, 0.7], None]
    clock.now = 5.0
    assert cache.get_many(["a"]) == [None]


def test_least_recently_used_entry_is_evicted():
    cache = MemoryCache(size=2, ttl_seconds=60)
    cache.set_many({"a": [1.0, 0, 0], "b": [0, 1.0, 0]})
    cache.get_many(["a"])
    cache.set_many({"c": [0, 0, 1.0]})
    assert cache.get_many(["a", "b", "c"]) == [[1.0, 0, 0], None, [0, 0, 1.0]]
