"""The champion gate: when may a newly trained model replace the served one?

A challenger becomes champion only if it (1) learned something (test ROC-AUC clearly
above 0.5), (2) beats the rule-based baseline on test PR-AUC beyond the noise (the 95%
paired-bootstrap interval of the difference lies above 0), and (3) is not worse than the
current champion re-scored on the same test rows, beyond a stated tolerance.
Every decision carries its reasons so it can be logged and read later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: How much worse (absolute test PR-AUC) than the champion a challenger may be.
PR_AUC_TOLERANCE = 0.005


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    champion_version: str | None = None
    champion_pr_auc: float | None = None
    version: str | None = None  # the version decided on, when known

    @property
    def summary(self) -> str:
        """What the gate decided (not what happened to the aliases: see the caller)."""
        verdict = "the gate would promote it" if self.promote else "the gate refuses it"
        return f"{verdict}: " + "; ".join(self.reasons)


def decide(
    metrics: dict[str, float],
    champion_version: str | None = None,
    champion_pr_auc: float | None = None,
    tolerance: float = PR_AUC_TOLERANCE,
) -> GateDecision:
    reasons: list[str] = []
    ok = True
    auc, pr_auc = metrics["test_roc_auc"], metrics["test_pr_auc"]
    if metrics.get("no_signal", 0.0):
        ok = False
        reasons.append(
            f"test ROC-AUC {auc:.3f} is within two standard errors of 0.5: the labels show "
            "no learnable signal (check the label definition and the data)"
        )
    rule = metrics["baseline_rule_test_pr_auc"]
    low = metrics.get("baseline_rule_pr_auc_diff_low")
    if low is not None:  # the paired bootstrap interval of the difference decides
        high = metrics["baseline_rule_pr_auc_diff_high"]
        interval = f"difference {pr_auc - rule:+.3f}, 95% CI {low:+.3f} to {high:+.3f}"
        if low > 0:
            reasons.append(
                f"test PR-AUC {pr_auc:.3f} beats the rule baseline {rule:.3f} ({interval})"
            )
        else:
            ok = False
            reasons.append(
                f"test PR-AUC {pr_auc:.3f} does not beat the rule baseline {rule:.3f} beyond "
                f"the noise ({interval})"
            )
    elif pr_auc > rule:  # runs logged before the interval existed
        reasons.append(f"test PR-AUC {pr_auc:.3f} beats the rule baseline ({rule:.3f})")
    else:
        ok = False
        reasons.append(f"test PR-AUC {pr_auc:.3f} does not beat the rule baseline ({rule:.3f})")
    if champion_version is None:
        reasons.append("no current champion")
    elif champion_pr_auc is None:
        ok = False
        reasons.append(
            f"champion v{champion_version} cannot be re-scored on these test rows (its spec or "
            "features differ); use `pql promote --force` to decide by hand"
        )
    elif pr_auc >= champion_pr_auc - tolerance:
        reasons.append(
            f"not worse than champion v{champion_version} on the same test rows "
            f"({pr_auc:.3f} vs {champion_pr_auc:.3f}, tolerance {tolerance})"
        )
    else:
        ok = False
        reasons.append(
            f"worse than champion v{champion_version} on the same test rows "
            f"({pr_auc:.3f} vs {champion_pr_auc:.3f}, tolerance {tolerance})"
        )
    return GateDecision(ok, reasons, champion_version, champion_pr_auc)
