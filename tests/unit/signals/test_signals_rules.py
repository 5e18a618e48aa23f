from __future__ import annotations

import pytest

from musktracker.signals.features import FEATURE_DEFAULTS
from musktracker.signals.rules import RulesError, parse_rules


def rules_yaml(condition: str, name: str = "r") -> str:
    return f'- name: {name}\n  condition: "{condition}"\n  score: 1\n  reason: because\n'


def features(**values: object) -> dict[str, object]:
    return {**FEATURE_DEFAULTS, **values}


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("__import__('os').system('true')", "only the functions"),
        ("type.__class__.__bases__", "attribute access"),
        ("symbol.upper() == 'X'", "only the functions"),
        ("dex_liquidity ** 99999999 > 1", "literal exponent"),
        ("9 ** 9 ** 9 > 1", "literal exponent"),
        ("dex_liquidity ** dex_fdv > 1", "literal exponent"),
        ("secret_name > 1", "unknown name 'secret_name'"),
        ("_private > 1", "unknown name"),
        ("[x for x in (1, 2)]", "ListComp is not allowed"),
        ("(lambda: 1)()", "only the functions"),
        ("symbol[0] == 'D'", "Subscript is not allowed"),
        ("dex_liquidity >=", "not valid"),
    ],
)
def test_unsafe_or_unknown_conditions_are_rejected_at_load(condition: str, message: str) -> None:
    with pytest.raises(RulesError) as err:
        parse_rules(rules_yaml(condition, name="evil"))
    assert "rule 'evil'" in str(err.value)
    assert message in str(err.value)


def test_scores_reasons_priority_groups_and_risk() -> None:
    text = """
- {name: liq_high, condition: "dex_liquidity >= 500000", score: 8, reason: high, priority: liq}
- {name: liq_mid, condition: "dex_liquidity >= 50000", score: 5, reason: mid, priority: liq}
- {name: green, condition: "goplus_risk == 'green'", score: 3, reason: safe}
- {name: taxed, condition: "goplus_sell_tax > 0.1", score: -2, reason: tax, risk: yellow}
- {name: chains, condition: "chain in ('base', 'solana')", score: 1, reason: chain}
"""
    rules = parse_rules(text)
    scored = rules.evaluate(
        features(dex_liquidity=600000.0, goplus_risk="green", goplus_sell_tax=0.2, chain="base")
    )
    assert scored.score == 8 + 3 + 1 - 2  # only the best liquidity tier counts
    assert scored.fired == ["liq_high", "green", "chains", "taxed"]
    assert scored.reasons == ["high", "safe", "chain", "tax"]
    assert scored.risk_level == "yellow"  # worst of the fired rules and GoPlus
    assert rules.evaluate(features(dex_liquidity=60000.0)).score == 5
    assert rules.evaluate(features()).risk_level == "unknown"


def test_env_substitution_with_default_and_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    text = rules_yaml("dex_liquidity >= ${MIN_LIQ:-100}")
    assert parse_rules(text).rules[0].condition == "dex_liquidity >= 100"
    monkeypatch.setenv("MIN_LIQ", "7")
    assert parse_rules(text).rules[0].condition == "dex_liquidity >= 7"
    with pytest.raises(RulesError, match="NOT_SET_ANYWHERE is not set"):
        parse_rules(rules_yaml("dex_liquidity >= ${NOT_SET_ANYWHERE}"))


def test_shape_errors_name_the_rule() -> None:
    with pytest.raises(RulesError, match="rule 'a': field 'reason' is missing"):
        parse_rules("- {name: a, condition: 'true', score: 1}")
    with pytest.raises(RulesError, match="score 'lots' is not a number"):
        parse_rules("- {name: a, condition: 'True', score: lots, reason: x}")
    with pytest.raises(RulesError, match="repeated"):
        parse_rules(rules_yaml("True", "a") + rules_yaml("True", "a"))
    with pytest.raises(RulesError, match="expected a list"):
        parse_rules("name: a")
    with pytest.raises(RulesError, match=r"rejected"):
        parse_rules(rules_yaml("symbol > 5"))


def test_shipped_rules_load() -> None:
    from pathlib import Path

    rules = parse_rules(Path("rules/rules.yml").read_text(), "rules.yml")
    assert len(rules.rules) >= 10
