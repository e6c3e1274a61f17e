"""Rule expressions: safe parsing, exact evaluation, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from pql.errors import SpecError
from pql.features.rules import RuleError, parse_rule
from pql.features.spec import parse_spec
from tests.conftest import small_spec

COLUMNS = {
    "invite_teammate_count": np.array([0.0, 3, 5, np.nan]),
    "active_days": np.array([9.0, 5, 2, 7]),
}


def test_and_or_not_and_chained_comparisons() -> None:
    rule = parse_rule("invite_teammate_count >= 3 and active_days >= 5")
    assert rule(COLUMNS).tolist() == [False, True, False, False]
    assert parse_rule("invite_teammate_count >= 3 or active_days > 8")(COLUMNS).tolist() == [
        True,
        True,
        True,
        False,
    ]
    assert parse_rule("not (active_days < 5)")(COLUMNS).tolist() == [True, True, False, True]
    assert parse_rule("1 <= invite_teammate_count < 5")(COLUMNS).tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert parse_rule("active_days >= -1.5").features == frozenset({"active_days"})


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('echo hi')",
        "active_days.real > 1",
        "active_days[0] > 1",
        "active_days + 1 > 2",
        "lambda: 1",
        "active_days >= 'three'",
        "3 > 2",
        "active_days in (1, 2)",
        "active_days >=",
        "",
    ],
)
def test_unsafe_or_malformed_rules_are_rejected(expression: str) -> None:
    with pytest.raises(RuleError):
        parse_rule(expression)


def test_unknown_feature_is_named() -> None:
    with pytest.raises(RuleError, match="invites_count"):
        parse_rule("invites_count >= 3", known_features=COLUMNS)


def test_spec_rules_are_checked_against_its_features() -> None:
    raw = small_spec().model_dump(mode="json")
    raw["rules"] = [{"name": "team", "when": "invite_teammate_count >= 3 and active_days >= 5"}]
    assert parse_spec(raw).rules[0].name == "team"
    raw["rules"].append({"name": "typo", "when": "invite_count >= 3"})
    with pytest.raises(SpecError, match=r"rules\.1\.when.*invite_count"):
        parse_spec(raw, source="pql.yaml")


@pytest.mark.parametrize("number", ["9" * 400, "-" + "9" * 400, "1e999"])
def test_a_number_no_float_holds_is_a_rule_error(number: str) -> None:
    with pytest.raises(RuleError, match=r"column 2[67] is too large"):
        parse_rule(f"invite_teammate_count >= {number}", known_features=COLUMNS)


def test_a_400_digit_rule_number_is_a_spec_error_exit_2(tmp_path, monkeypatch, capsys) -> None:
    from tests.pql.test_cli import run

    raw = small_spec().model_dump(mode="json")
    raw["rules"] = [{"name": "big", "when": f"invite_teammate_count >= {'9' * 400}"}]
    spec = tmp_path / "pql.yaml"
    spec.write_text(yaml.safe_dump(raw))
    code, text = run(["validate", "--spec", str(spec)], monkeypatch, capsys)
    assert code == 2 and "rules.0.when" in text and "too large" in text, text
