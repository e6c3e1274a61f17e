"""Regenerate README's table of the demo's top ten leads, so the texts shown stay true.

    .venv/bin/python scripts/readme_demo_leads.py           # rewrite the README block
    .venv/bin/python scripts/readme_demo_leads.py --check   # exit 1 if it is stale

It runs what `pql demo` runs (20,000 simulated users, seed 7, scored at the end of the
data) through the public API and writes the block between the README's
`<!-- demo-leads:start -->` and `<!-- demo-leads:end -->` markers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

import pql
from pql.simulator import simulate

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- demo-leads:start -->", "<!-- demo-leads:end -->"


def leads_table(leads: pd.DataFrame, top: int = 10) -> str:
    """A Markdown table of the best `top` scored leads: reasons and context as written."""
    scored = leads[leads["status"] == "scored"].head(top)
    lines = [
        "| user | score | tier | why (reasons) | holding it back | who (fit) | context |",
        "| --- | ---: | --- | --- | --- | --- | --- |",
    ]
    for lead in scored.itertuples():
        why = "; ".join(
            r for r in (lead.reason_1, lead.reason_2, lead.reason_3) if isinstance(r, str)
        )
        back = lead.negative_reason_1 if isinstance(lead.negative_reason_1, str) else ""
        helps = [getattr(lead, c) for c in ("fit_reason_1", "fit_reason_2")]
        hurts = lead.negative_fit_reason_1
        fit = [f"+ {t}" for t in helps if isinstance(t, str)]
        who = "; ".join(fit + ([f"- {hurts}"] if isinstance(hurts, str) else []))
        lines.append(
            f"| {lead.entity_id} | {lead.score:.1f} | {lead.tier} | {why} | {back} | {who} | "
            f"{lead.context} |"
        )
    return "\n".join(lines)


def demo_leads(users: int = 20_000, seed: int = 7) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        simulate(users, seed, Path(folder), fit=True)  # as `pql demo` (fit by default)
        dataset = pql.load_dataset(Path(folder) / "pql.yaml")
        result = pql.train(dataset)
        return pql.score_batch(result.bundle, dataset).leads


def replace_block(text: str, block: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    if not rest:
        raise SystemExit(f"README.md has no {START} marker")
    return f"{head}{START}\n{block}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README is stale")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    current = readme.read_text(encoding="utf-8")
    updated = replace_block(current, leads_table(demo_leads()))
    if args.check:
        return 0 if updated == current else 1
    readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
