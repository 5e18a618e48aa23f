from __future__ import annotations

import random
from pathlib import Path

import pytest

from musktracker.signals import rules as rules_module
from musktracker.signals.features import FEATURE_DEFAULTS
from musktracker.signals.metrics import RULE_ERRORS
from musktracker.signals.rules import RulesError, RuleSet, load_rules, parse_rules


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
        # simpleeval adds list/dict/set/tuple to the functions it is given: not allowed here.
        ("list(type) == ['p', 'o', 's', 't']", "only the functions ['abs', 'max', 'min', 'round']"),
        ("len(symbol) > 3", "only the functions"),
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
    rules = parse_rules(Path("rules/rules.yml").read_text(), "rules.yml")
    assert len(rules.rules) >= 10


def test_remembered_answers_equal_fresh_evaluation() -> None:
    """Rules remember answers by the values they read: on 1,000 mixed feature sets, a
    RuleSet that has seen hundreds of them scores exactly like a new one (whose every
    answer comes from simpleeval)."""
    extra = """
- {name: mixed, condition: "abs(sentiment) * 10 // 3 >= cashtag_count + 1", score: 1, reason: m}
- {name: ratio, condition: "volume_ratio / 2 > 1 if has_dex else dex_pair_count in (0, 2)",
   score: 1, reason: r}
"""
    warm = parse_rules(Path("rules/rules.yml").read_text() + extra)
    rng = random.Random(6)
    for _ in range(1000):
        values = features(
            type=rng.choice(["post", "volume_burst", "regime_shift", "sentiment_swing"]),
            cashtag_count=rng.choice([0, 1, 2, True, False]),
            has_contract=rng.choice([True, False, 0, 1]),
            sentiment=rng.choice([0.0, -0.0, 0.8, 0.7, -0.8, 0.69999]),
            has_sentiment=rng.choice([True, False]),
            evidence_count=rng.randint(1, 4),
            dex_liquidity=rng.choice([0.0, 50000, 49999.5, 600000.0]),
            dex_pair_count=rng.choice([0, 1, 2]),
            has_dex=rng.choice([True, False]),
            volume_ratio=rng.choice([0.0, 1.5, 2, 2.5]),
            goplus_risk=rng.choice(["unknown", "green", "red"]),
            goplus_is_honeypot=rng.choice([True, False]),
            goplus_sell_tax=rng.choice([0.0, 0.2]),
            negative_share=rng.choice([0.1, 0.4]),
        )
        assert warm.evaluate(values) == RuleSet(warm.rules).evaluate(values)


def errors_of(rule: str) -> float:
    value: float = RULE_ERRORS.labels(rule=rule)._value.get()
    return value


def test_remembered_answers_keep_types_apart_and_errors_uncached() -> None:
    rules = parse_rules(rules_yaml("'ab' * evidence_count == 'abab' or cashtag_count > 5"))
    assert rules.evaluate(features(evidence_count=2)).fired == ["r"]
    before = errors_of("r")
    # 2.0 == 2, but a string times a float is an error: not fired, and counted every time.
    assert rules.evaluate(features(evidence_count=2.0)).fired == []
    assert rules.evaluate(features(evidence_count=2.0)).fired == []
    assert errors_of("r") == before + 2
    # '%' formats numbers, where -0.0 and 0.0 differ although they are equal: not remembered.
    signed = parse_rules(rules_yaml("'%s' % sentiment == '-0.0'"))
    assert signed.evaluate(features(sentiment=0.0)).fired == []
    assert signed.evaluate(features(sentiment=-0.0)).fired == ["r"]


def test_allowed_functions_stay_as_documented_after_loading_rules() -> None:
    parse_rules(rules_yaml("abs(sentiment) > 0.5"))
    RuleSet(parse_rules(rules_yaml("True")).rules)
    assert sorted(rules_module.FUNCTIONS) == ["abs", "max", "min", "round"]
    with pytest.raises(RulesError, match="only the functions"):
        parse_rules(rules_yaml("list(type) == []"))


def test_condition_that_raises_for_one_event_counts_as_not_fired(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A division by zero, a number past simpleeval's limits or a string where a number was
    expected: that rule does not fire for that event, the others still do, and the failure
    is logged with the rule name and event key and counted."""
    text = (
        rules_yaml("type == 'volume_burst' and volume_actual / volume_upper >= 3", name="ratio")
        + rules_yaml("dex_liquidity ** 2 > 1", name="power")
        + rules_yaml("dex_liquidity >= 5", name="liquid")
        + rules_yaml("type == 'volume_burst'", name="burst")
    )
    rules = parse_rules(text)
    before = {name: errors_of(name) for name in ("ratio", "power", "liquid", "burst")}
    scored = rules.evaluate(
        features(type="volume_burst", volume_actual=9.0, volume_upper=0.0, dex_liquidity=1e300),
        "volume_burst:internal:2026-01-01T10",
    )
    assert scored.fired == ["liquid", "burst"]  # `power` overflows, `ratio` divides by zero
    assert scored.score == 2
    assert errors_of("ratio") == before["ratio"] + 1
    assert errors_of("power") == before["power"] + 1
    assert errors_of("liquid") == before["liquid"]
    log = capsys.readouterr()
    out = log.out + log.err
    assert "rule condition failed" in out and "ZeroDivisionError" in out
    assert "volume_burst:internal:2026-01-01T10" in out and "ratio" in out
    # The same rules on ordinary values still answer (and nothing was cached as an error).
    ok = rules.evaluate(features(type="volume_burst", volume_actual=9.0, volume_upper=3.0))
    assert ok.fired == ["ratio", "burst"]


@pytest.mark.parametrize("score", [".nan", ".inf", "-.inf", "nan", "'inf'"])
def test_non_finite_score_is_rejected(score: str) -> None:
    with pytest.raises(RulesError, match=r"rule 'r': score .* must be a finite number"):
        parse_rules(f"- {{name: r, condition: 'True', score: {score}, reason: x}}")


@pytest.mark.parametrize("score", ["1e308", "-1000001", "'2e6'"])
def test_huge_score_is_rejected(score: str) -> None:
    """Two rules of 1e308 summed to an infinite score, which no outbox payload can carry."""
    with pytest.raises(RulesError, match=r"rule 'r': score .* is too large; a score must be "
                       r"between -1,000,000 and 1,000,000"):
        parse_rules(f"- {{name: r, condition: 'True', score: {score}, reason: x}}")


def test_largest_scores_still_sum_to_a_finite_total() -> None:
    rules = parse_rules(
        "- {name: a, condition: 'True', score: 1000000, reason: x}\n"
        "- {name: b, condition: 'True', score: -1e6, reason: y}\n"
        "- {name: c, condition: 'True', score: 1e6, reason: z}\n"
    )
    assert rules.evaluate(features()).score == 1_000_000


def test_non_finite_score_from_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RULE_SCORE", "inf")
    with pytest.raises(RulesError, match="must be a finite number"):
        parse_rules("- {name: r, condition: 'True', score: '${RULE_SCORE}', reason: x}")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: r, condition: 'True', score: 1, reason: [a, b]}",
         "rule 'r': field 'reason' must be a string, got a list"),
        ("{name: [x, y], condition: 'True', score: 1, reason: x}",
         "rule '#1': field 'name' must be a string, got a list"),
        ("{name: r, condition: 'True', score: 1, reason: x, priority: {a: 1}}",
         "rule 'r': field 'priority' must be a string, got a mapping"),
        ("{name: r, condition: 5, score: 1, reason: x}",
         "rule 'r': field 'condition' must be a string, got int 5"),
        ("{name: r, condition: 'True', score: true, reason: x}",
         "rule 'r': field 'score' must be a number, got a boolean"),
        ("{name: r, condition: 'True', score: [1], reason: x}",
         "rule 'r': field 'score' must be a number, got a list"),
        ("{name: r, condition: 'True', score: 1, reason: x, risk: [red]}",
         "rule 'r': field 'risk' must be a string, got a list"),
    ],
)  # fmt: skip
def test_wrongly_typed_fields_are_rejected_not_turned_into_text(entry: str, message: str) -> None:
    with pytest.raises(RulesError) as err:
        parse_rules(f"- {entry}")
    assert message in str(err.value)


def test_numeric_name_and_priority_are_still_labels() -> None:
    (rule,) = parse_rules("- {name: 7, condition: 'True', score: 1, reason: x, priority: 2}").rules
    assert (rule.name, rule.priority) == ("7", "2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('- name: a\n  condition: "dex_liquidity >= 5\n  score: 1\n',
         "rules.yml:4:1: not valid YAML: found unexpected end of stream "
         "(while scanning a quoted scalar)"),
        ("- name: a\n condition: x\n", "rules.yml:2:2: not valid YAML: expected <block end>, "
         "but found '<block mapping start>' (while parsing a block collection)"),
    ],
)  # fmt: skip
def test_invalid_yaml_is_one_line_naming_file_line_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    with pytest.raises(RulesError) as err:
        load_rules(path)
    assert str(err.value) == f"{tmp_path}/{message}"


def test_non_utf8_rules_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_bytes(b"\xff\xfe- name: r\n")
    with pytest.raises(RulesError, match=r"rules.yml:1: not UTF-8 \(byte 0xff at column 1\)"):
        load_rules(path)
