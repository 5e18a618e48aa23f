from musktracker.sentiment.retrain import Thresholds, TriggerValues


def values(**changes: float | None) -> TriggerValues:
    base: dict[str, float | None] = {
        "new_samples": 0,
        "hours_since_training": 1.0,
        "recent_predictions": 500,
        "mean_confidence": 0.8,
        "label_psi": 0.01,
        "length_psi": 0.01,
    }
    return TriggerValues(**{**base, **changes})  # type: ignore[arg-type]


def test_nothing_fires_on_a_healthy_fresh_model():
    assert values().fired(Thresholds()) == []


def test_each_trigger_fires_at_its_threshold():
    limits = Thresholds(min_samples=1000, max_hours=24, min_confidence=0.6, psi=0.2)
    assert values(new_samples=1000).fired(limits) == ["new_samples"]
    assert values(hours_since_training=24.0).fired(limits) == ["stale"]
    assert values(mean_confidence=0.59).fired(limits) == ["low_confidence"]
    assert values(label_psi=0.21).fired(limits) == ["label_drift"]
    assert values(length_psi=0.3).fired(limits) == ["length_drift"]


def test_no_model_yet_counts_as_stale_and_missing_measures_do_not_fire():
    fired = values(
        hours_since_training=None, mean_confidence=None, label_psi=None, length_psi=None
    ).fired(Thresholds())
    assert fired == ["stale"]
