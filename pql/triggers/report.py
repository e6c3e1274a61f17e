"""How a trigger report reads: a terminal table, a Markdown page and CSV files.

Rendering is kept apart from discovery (`training.triggers`) so the numbers are tested
once and every output shows the same ones. Rates carry their 95% intervals: a growth
team must see that "60% convert" from 12 trials is a guess.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from pql.files import atomic_output, write_text
from pql.triggers.discovery import RuleMetrics, TriggerReport

TOP_TRIGGERS = 15


def _pct(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def _interval(rate: float, low: float, high: float) -> str:
    if not math.isfinite(rate):
        return "-"
    return f"{_pct(rate)} [{_pct(low)}-{_pct(high)}]"


def _lift(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.2f}x"


def top_triggers(report: TriggerReport, n: int = TOP_TRIGGERS) -> pd.DataFrame:
    """Per action and window the threshold that best balances precision and recall (F1),
    strongest lift first: the single most extreme threshold always has the top lift and
    almost no coverage, which is not what a team would act on."""
    stats = report.stats
    supported = stats[stats["supported"] & (stats["lift"] > 1)]
    best = supported.sort_values("f1", ascending=False).drop_duplicates(["action", "window"])
    return best.sort_values("lift", ascending=False).head(n).reset_index(drop=True)


def _trigger_rows(report: TriggerReport) -> list[list[str]]:
    return [
        [
            f"{r.feature} >= {r.threshold:g}",
            f"{r.rows_at_or_above:,}",
            _interval(r.rate_at_or_above, r.rate_at_or_above_low, r.rate_at_or_above_high),
            _interval(r.rate_below, r.rate_below_low, r.rate_below_high),
            _lift(r.lift),
            _pct(r.coverage),
            _pct(r.recall),
            "yes" if r.separated else "no",
        ]
        for r in top_triggers(report).itertuples(index=False)
    ]


_TRIGGER_HEADERS = [
    "trigger",
    "trials at/above",
    "converted at/above [95% CI]",
    "converted below [95% CI]",
    "lift",
    "coverage",
    "converters caught",
    "CIs apart",
]


def _action_rows(report: TriggerReport) -> list[list[str]]:
    return [
        [
            r.action,
            _pct(r.share_doing_it),
            r.best_trigger or "-",
            _lift(r.best_lift),
            r.flags or "",
        ]
        for r in report.actions.itertuples(index=False)
    ]


_ACTION_HEADERS = ["action", "trials doing it", "best trigger", "lift", "flags"]


def _metrics_rows(report: TriggerReport) -> list[list[str]]:
    proposal = report.proposal
    judged = (("training time", proposal.train), ("later, held out", proposal.held_out))
    return [_metric_row(name, metrics) for name, metrics in judged if metrics is not None]


def _metric_row(name: str, m: RuleMetrics) -> list[str]:
    return [
        name,
        f"{m.rows:,}",
        f"{m.pql:,} ({_pct(m.pql_share)})",
        _pct(m.precision),
        _pct(m.recall),
        _lift(m.lift),
        _pct(m.base_rate),
    ]


_METRIC_HEADERS = ["evaluated on", "trials", "PQLs", "precision", "recall", "lift", "base rate"]


def _heading(report: TriggerReport) -> str:
    c = report.counts
    return (
        f"{report.entity}s at day {report.day:g} of their trial; label: converted within "
        f"{report.horizon_days:g} days. Chosen on {c['train_rows']:,} earlier signups "
        f"({c['train_conversions']:,} converted, base rate {_pct(report.base_rate_train)}), "
        f"judged on {c['held_out_rows']:,} later ones ({c['held_out_conversions']:,} converted). "
        f"{c['unlabeled_horizon_past_data_end']:,} snapshots whose horizon runs past the data "
        f"are left out. Minimum support: {report.min_support} trials on each side."
    )


def render_triggers(report: TriggerReport, console: Console) -> None:
    """The report as rich tables in the terminal."""
    console.print(f"[bold]Triggers[/]: {_heading(report)}")
    console.print(
        f"signups: training {report.split['train_signups']}; "
        f"held out {report.split['held_out_signups']}"
    )
    for title, headers, rows in (
        ("Actions", _ACTION_HEADERS, _action_rows(report)),
        ("Strongest triggers (training time)", _TRIGGER_HEADERS, _trigger_rows(report)),
    ):
        table = Table(title=title, title_justify="left")
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    rules = report.proposal.spec_rules()
    if rules:
        console.print("[bold]Proposed rule-based PQL[/] (a PQL meets any rule):")
        for rule in rules:
            console.print(f"  {rule['name']}: {rule['when']}", highlight=False)
        table = Table(title="How the rules do", title_justify="left")
        for header in _METRIC_HEADERS:
            table.add_column(header)
        for row in _metrics_rows(report):
            table.add_row(*row)
        console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]note:[/] {warning}", highlight=False)


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *map(line, rows)])


def triggers_markdown(report: TriggerReport, product: str) -> str:
    """The report as one Markdown page (for a wiki, a PR or a notebook)."""
    parts = [
        f"# Triggers: {product}",
        "",
        _heading(report),
        "",
        f"Signups: training {report.split['train_signups']}; held out "
        f"{report.split['held_out_signups']}.",
        "",
        "## Actions",
        "",
        _markdown_table(_ACTION_HEADERS, _action_rows(report)),
        "",
        "## Strongest triggers (training time)",
        "",
        _markdown_table(_TRIGGER_HEADERS, _trigger_rows(report)),
        "",
        "## Proposed rule-based PQL",
        "",
    ]
    rules = report.proposal.spec_rules()
    if rules:
        parts += ["A PQL meets any of these rules:", ""]
        parts += [f"- `{rule['when']}` ({rule['reason']})" for rule in rules]
        parts += ["", _markdown_table(_METRIC_HEADERS, _metrics_rows(report)), ""]
    else:
        parts += ["No rule is proposed.", ""]
    parts += ["## Notes", ""] + [f"- {warning}" for warning in report.warnings]
    return "\n".join(parts) + "\n"


def write_trigger_files(report: TriggerReport, product: str, folder: Path) -> list[Path]:
    """triggers.csv (every action, window and threshold), actions.csv, triggers.md."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "triggers.csv", folder / "actions.csv", folder / "triggers.md"]
    for frame, path in ((report.stats, written[0]), (report.actions, written[1])):
        with atomic_output(path) as temporary:
            frame.to_csv(temporary, index=False)
    write_text(written[2], triggers_markdown(report, product))
    return written
