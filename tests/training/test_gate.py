"""The champion gate's rules, one at a time."""

from __future__ import annotations

from pql.training.gate import decide

GOOD = {
    "test_roc_auc": 0.85,
    "test_pr_auc": 0.45,
    "baseline_rule_test_pr_auc": 0.2,
    "no_signal": 0.0,
}


def test_first_model_that_beats_the_rule_is_promoted() -> None:
    decision = decide(GOOD)
    assert decision.promote
    assert "no current champion" in decision.summary


def test_not_beating_the_rule_is_refused() -> None:
    decision = decide({**GOOD, "baseline_rule_test_pr_auc": 0.5})
    assert not decision.promote
    assert "does not beat the rule baseline" in decision.summary


def test_no_signal_is_refused_with_a_clear_message() -> None:
    decision = decide({**GOOD, "no_signal": 1.0})
    assert not decision.promote
    assert "no learnable signal" in decision.summary


def test_champion_comparison_uses_the_tolerance() -> None:
    assert decide(GOOD, "3", 0.454).promote  # within 0.005
    refused = decide(GOOD, "3", 0.46)
    assert not refused.promote and "worse than champion v3" in refused.summary
    unknown = decide(GOOD, "3", None)
    assert not unknown.promote and "--force" in unknown.summary
