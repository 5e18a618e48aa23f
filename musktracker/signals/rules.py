"""Rules engine: YAML rules, checked when loaded, evaluated safely, reloaded when edited.

A rule is `name`, `condition`, `score`, `reason`, optional `priority` (a group in which only
the best-scoring fired rule counts, e.g. liquidity tiers) and optional `risk`
(green/yellow/red: the worst one fired, or the GoPlus risk, is the event's risk level).
`${ENV_VAR}` or `${ENV_VAR:-default}` is substituted in every field before parsing.

Conditions go through simpleeval (no `eval`), parsed once at load. Before that, the parsed
tree is checked against a short allow-list: only known feature names, literals, boolean,
comparison and arithmetic operators, and calls to abs/min/max/round. Attribute access,
subscripts, underscores, lambdas and comprehensions are refused, and `**` only takes a small
literal exponent, so no condition can reach Python internals or burn CPU.

A condition that still raises for some event (a division by zero, a number past simpleeval's
limits, a string compared with a number) counts as "not fired" for that event: it is logged
with the rule name and event key and counted in `rule_errors_total{rule}`, and the other
rules and events go on.
"""

from __future__ import annotations

import ast
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any

import yaml
from simpleeval import EvalWithCompoundTypes

from musktracker.logging import get_logger
from musktracker.signals.features import FEATURE_DEFAULTS, FEATURE_NAMES
from musktracker.signals.metrics import CONFIG_RELOAD, RULE_ERRORS
from musktracker.textfile import NotUtf8Error, read_utf8

log = get_logger(__name__)

FUNCTIONS: dict[str, Any] = {"abs": abs, "min": min, "max": max, "round": round}
ALLOWED_FUNCTIONS = frozenset(FUNCTIONS)
"""What a condition may call. simpleeval adds its own (list, dict...) to the functions dict it
is given, so every evaluator gets a copy of FUNCTIONS and calls are checked against this."""
RISK_ORDER = {"unknown": 0, "green": 1, "yellow": 2, "red": 3}
MAX_POWER_EXPONENT = 8
MAX_ABS_SCORE = 1_000_000.0
"""Largest score magnitude a rule may add. Finite scores can still sum to infinity
(1e308 + 1e308), and an infinite score is not JSON: PostgreSQL refused the batch's outbox
payload, so its source failed every pass."""
CONDITION_CACHE_SIZE = 4096  # answers kept per rule
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ALLOWED_NODES = (
    ast.Expression,
    ast.Expr,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Call,
    ast.IfExp,
    ast.Tuple,
    ast.List,
)


def _new_evaluator() -> EvalWithCompoundTypes:
    """A fresh evaluator; it gets a copy of FUNCTIONS because simpleeval widens the dict."""
    return EvalWithCompoundTypes(functions=dict(FUNCTIONS))


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the rule and the reason."""


@dataclass(frozen=True)
class Rule:
    name: str
    condition: str
    score: float
    reason: str
    priority: str | None
    risk: str | None
    parsed: ast.Expr


@dataclass(frozen=True)
class Scored:
    """What the rules made of one event."""

    score: float
    reasons: list[str]
    fired: list[str]
    risk_level: str


def substitute_env(text: str, where: str) -> str:
    """Replace `${VAR}` / `${VAR:-default}`; an unset variable without default is an error."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name, default)
        if value is None:
            raise RulesError(f"{where}: environment variable {name} is not set")
        return value

    return _ENV.sub(replace, text)


def check_condition(tree: ast.AST) -> None:
    """Refuse anything outside the allow-list; raises ValueError with the reason."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            raise ValueError(f"attribute access '.{node.attr}' is not allowed")
        if not isinstance(node, _ALLOWED_NODES):
            raise ValueError(f"{type(node).__name__} is not allowed in a condition")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
                raise ValueError(f"only the functions {sorted(ALLOWED_FUNCTIONS)} may be called")
            if node.keywords:
                raise ValueError("keyword arguments are not allowed")
        elif isinstance(node, ast.Name) and node.id not in FEATURE_NAMES | ALLOWED_FUNCTIONS:
            raise ValueError(
                f"unknown name {node.id!r}; known names: {', '.join(sorted(FEATURE_NAMES))}"
            )
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = node.right
            if not (
                isinstance(exponent, ast.Constant)
                and isinstance(exponent.value, int | float)
                and not isinstance(exponent.value, bool)
                and abs(exponent.value) <= MAX_POWER_EXPONENT
            ):
                raise ValueError(f"'**' needs a literal exponent of at most {MAX_POWER_EXPONENT}")


class RuleSet:
    """Loaded rules plus one evaluator; `evaluate` is safe to call from several threads.

    A checked condition reads feature names and literals and calls only pure functions, so
    whether it holds depends on nothing but the values of the names it reads. Each rule
    keeps its last answers by those values (typed: 1, 1.0 and True are distinct keys) and
    simpleeval runs only for values it has not seen; most events share them (no token,
    neutral market data), so this skips most evaluations. Errors are not cached.
    """

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._evaluator = _new_evaluator()
        self._conditions = [self._condition(rule) for rule in rules]
        # Few combinations of fired rules occur: each is combined into a score once.
        self._outcome = lru_cache(maxsize=CONDITION_CACHE_SIZE)(self._combine)
        self._lock = threading.Lock()

    def _condition(self, rule: Rule) -> Callable[[dict[str, Any]], bool]:
        """Whether `rule` holds for an event's features; reads only the names it uses."""
        nodes = list(ast.walk(rule.parsed))
        names = sorted({n.id for n in nodes if isinstance(n, ast.Name) and n.id in FEATURE_NAMES})

        def holds(*values: Any) -> bool:
            self._evaluator.names = dict(zip(names, values, strict=True))
            return bool(self._evaluator.eval(rule.condition, previously_parsed=rule.parsed))

        # `%` formats numbers into strings, where -0.0 and 0.0 differ although they are
        # equal (and so one cache key): such conditions are always evaluated.
        check = (
            holds
            if any(isinstance(n, ast.Mod) for n in nodes)
            else lru_cache(maxsize=CONDITION_CACHE_SIZE, typed=True)(holds)
        )
        if len(names) == 1:
            name = names[0]
            return lambda features: check(features[name])
        get = itemgetter(*names) if names else lambda _: ()
        return lambda features: check(*get(features))

    def evaluate(self, features: dict[str, Any], event_key: str = "") -> Scored:
        """Total score, reasons and risk level for one event's features.

        A condition that raises counts as not fired; `event_key` names the event in the log.
        """
        with self._lock:
            try:
                holds = tuple(condition(features) for condition in self._conditions)
            except Exception:  # rare: find which rules failed, one by one
                holds = self._holds_each(features, event_key)
        goplus_risk = str(features.get("goplus_risk", "unknown"))
        score, reasons, fired, risk = self._outcome(holds, goplus_risk)
        return Scored(score=score, reasons=list(reasons), fired=list(fired), risk_level=risk)

    def _holds_each(self, features: dict[str, Any], event_key: str) -> tuple[bool, ...]:
        """Each rule's answer, False (logged and counted) where its condition raises."""
        holds = []
        for rule, condition in zip(self.rules, self._conditions, strict=True):
            try:
                holds.append(condition(features))
            except Exception as exc:  # simpleeval raises many types; all mean "cannot tell"
                RULE_ERRORS.labels(rule=rule.name).inc()
                log.warning(
                    "rule condition failed; counted as not fired",
                    stage="rules",
                    rule=rule.name,
                    event_key=event_key,
                    error=f"{type(exc).__name__}: {exc}",
                )
                holds.append(False)
        return tuple(holds)

    def _combine(
        self, holds: tuple[bool, ...], goplus_risk: str
    ) -> tuple[float, tuple[str, ...], tuple[str, ...], str]:
        """Score, reasons, fired rule names and risk level from which rules hold."""
        best_in_group: dict[str, Rule] = {}
        fired: list[Rule] = []
        for rule, condition in zip(self.rules, holds, strict=True):
            if condition:
                if rule.priority is None:
                    fired.append(rule)
                elif (
                    rule.priority not in best_in_group
                    or rule.score > best_in_group[rule.priority].score
                ):
                    best_in_group[rule.priority] = rule
        fired += best_in_group.values()
        fired.sort(key=lambda r: -r.score)
        risks = [r.risk for r in fired if r.risk] + [goplus_risk]
        risk = max(risks, key=lambda r: RISK_ORDER.get(r, 0))
        return (
            round(sum(r.score for r in fired), 4),
            tuple(r.reason for r in fired),
            tuple(r.name for r in fired),
            risk if risk in RISK_ORDER else "unknown",
        )


def _kind(value: object) -> str:
    """How a YAML value reads in an error message."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    return f"{type(value).__name__} {value!r}"


def _check_types(entry: dict[Any, Any], where: str) -> None:
    """Text fields must be YAML strings (a name or priority group may also be an integer),
    the score a number or a string (`${VAR}`): nothing is turned into text with str()."""
    for key, value in entry.items():
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key == "score":
            ok, expected = isinstance(value, str) or number, "a number"
        else:
            label = key in ("name", "priority") and number and isinstance(value, int)
            ok, expected = isinstance(value, str) or label, "a string"
        if not ok:
            raise RulesError(f"{where}: field {key!r} must be {expected}, got {_kind(value)}")


def _rule_from(entry: object, index: int, evaluator: EvalWithCompoundTypes) -> Rule:
    if not isinstance(entry, dict):
        raise RulesError(f"rule #{index}: expected a mapping with name, condition, score, reason")
    raw_name = entry.get("name")
    name = str(raw_name) if isinstance(raw_name, str | int) and raw_name != "" else f"#{index}"
    where = f"rule {name!r}"
    unknown = set(entry) - {"name", "condition", "score", "reason", "priority", "risk"}
    if unknown:
        raise RulesError(f"{where}: unknown field(s) {sorted(unknown, key=str)}")
    for required in ("name", "condition", "score", "reason"):
        if entry.get(required) in (None, ""):
            raise RulesError(f"{where}: field {required!r} is missing")
    _check_types(entry, where)
    fields = {k: substitute_env(str(v), where) for k, v in entry.items() if v is not None}
    try:
        score = float(fields["score"])
    except ValueError:
        raise RulesError(f"{where}: score {fields['score']!r} is not a number") from None
    if not math.isfinite(score):
        raise RulesError(f"{where}: score {fields['score']!r} must be a finite number")
    if abs(score) > MAX_ABS_SCORE:
        raise RulesError(
            f"{where}: score {fields['score']!r} is too large; a score must be between "
            f"-{MAX_ABS_SCORE:,.0f} and {MAX_ABS_SCORE:,.0f}"
        )
    risk = fields.get("risk")
    if risk is not None and risk not in RISK_ORDER:
        raise RulesError(f"{where}: risk {risk!r} must be one of green, yellow, red")
    condition = fields["condition"]
    try:
        parsed = evaluator.parse(condition)
        check_condition(parsed)
        evaluator.names = dict(FEATURE_DEFAULTS)
        evaluator.eval(condition, previously_parsed=parsed)
    except SyntaxError as exc:
        raise RulesError(f"{where}: condition {condition!r} is not valid: {exc.msg}") from None
    except Exception as exc:  # simpleeval raises many types; all mean "unusable condition"
        raise RulesError(f"{where}: condition {condition!r} rejected: {exc}") from None
    return Rule(
        name=fields["name"],
        condition=condition,
        score=score,
        reason=fields["reason"],
        priority=fields.get("priority"),
        risk=risk,
        parsed=parsed,
    )


def yaml_problem(exc: yaml.YAMLError, source: str) -> str:
    """One line naming the file, line and column: PyYAML's own text spans four lines and
    calls the file "<unicode string>"."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    return f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")


def parse_rules(text: str, source: str = "<string>") -> RuleSet:
    """Rules from YAML text; raises RulesError naming the first bad rule."""
    try:
        entries = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(yaml_problem(exc, source)) from None
    if not isinstance(entries, list):
        raise RulesError(f"{source}: expected a list of rules at the top level")
    evaluator = _new_evaluator()
    rules = [_rule_from(entry, i + 1, evaluator) for i, entry in enumerate(entries)]
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RulesError(f"{source}: rule names must be unique; repeated: {duplicates}")
    return RuleSet(rules)


def load_rules(path: Path) -> RuleSet:
    """Rules from a file."""
    try:
        text = read_utf8(path)
    except OSError as exc:
        raise RulesError(f"cannot read rules file {path}: {exc.strerror}") from None
    except NotUtf8Error as exc:
        raise RulesError(f"cannot read rules file {exc}") from None
    return parse_rules(text, str(path))


class RulesWatcher:
    """The rules in force, reloaded when the file changes (polled, no restart needed).

    An invalid edit is logged with the rule name and reason and counted in
    `config_reload_total{result="error"}`; the last good rules stay in force.
    """

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self.rules = load_rules(path)
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self.last_error: str | None = None

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def current(self) -> RuleSet:
        """The rules to use now; checks the file at most every `interval` seconds."""
        now = time.monotonic()
        if now - self._checked >= self.interval:
            self._checked = now
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._stamp = stamp
                self._reload()
        return self.rules

    def _reload(self) -> None:
        try:
            self.rules = load_rules(self.path)
        except RulesError as exc:
            self.last_error = str(exc)
            CONFIG_RELOAD.labels(result="error").inc()
            log.error("rules reload rejected; previous rules stay in force", error=str(exc))
            return
        self.last_error = None
        CONFIG_RELOAD.labels(result="ok").inc()
        log.info("rules reloaded", path=str(self.path), rules=len(self.rules.rules))
