"""`pql demo`: the whole job on built-in simulated data, start to finish."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pql.clikit import console, write_frame
from pql.simulator.cli import simulate_command

TOP_LEADS = 10


def _leads_table(leads, version: str) -> Table:
    table = Table(title=f"Hottest {len(leads)} leads (model v{version})", show_lines=True)
    columns = (
        "user",
        "account",
        "p(convert)",
        "score",
        "tier",
        "why",
        "holding it back",
        "who (fit)",
        "context",
    )
    for column in columns:
        table.add_column(column)
    for lead in leads.itertuples():
        table.add_row(
            str(lead.entity_id),
            str(lead.account_id),
            f"{lead.probability:.0%}",
            str(lead.score),
            str(lead.tier),
            "\n".join(r for r in (lead.reason_1, lead.reason_2, lead.reason_3) if r),
            lead.negative_reason_1 or "",
            _fit_cell(lead),
            str(lead.context).replace("; ", "\n"),
        )
    return table


def _fit_cell(lead) -> str:
    """Fit reasons apart from behaviour: what raises the score, then what holds it back."""
    helps = [getattr(lead, c, None) for c in ("fit_reason_1", "fit_reason_2")]
    hurts = getattr(lead, "negative_fit_reason_1", None)
    lines = [f"+ {text}" for text in helps if isinstance(text, str)]
    lines += [f"- {hurts}"] if isinstance(hurts, str) else []
    return "\n".join(lines)


def demo_command(
    users: Annotated[int, typer.Option(help="Simulated trial users.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    out: Annotated[Path, typer.Option(help="Working folder for data and outputs.")] = Path(
        "pql-demo"
    ),
    fit: Annotated[
        bool,
        typer.Option(
            "--fit/--no-fit",
            help="Simulate who the users are too (company size, industry, country, role, "
            "e-mail kind): the model uses them and the leads show fit reasons apart.",
        ),
    ] = True,
) -> None:
    """Simulate a product, train and promote a model, and show the hottest leads."""
    from pql.features.pipeline import load_dataset
    from pql.features.spec import load_spec
    from pql.handoff.lead_report import DEFAULT_ROW_LIMIT
    from pql.handoff.run import write_lead_report
    from pql.serving.batch import score_dataset
    from pql.serving.registry import load_model
    from pql.serving.scoring import Scorer
    from pql.training.cli import run_training

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    store = f"sqlite:///{out / 'mlflow.db'}"  # the demo's own store, beside its data
    data_dir = out / "data"
    simulate_command(users=users, seed=seed, out=data_dir, fit=fit)
    spec_path = data_dir / "pql.yaml"
    registered = run_training(spec_path, tracking_uri=store)

    loaded = load_model(f"models:/{registered.model_name}@champion", store)
    dataset = load_dataset(load_spec(spec_path))
    batch = score_dataset(
        Scorer(loaded.bundle),
        dataset,
        dataset.events_end,
        model_version=loaded.version,
        model_status=loaded.status,
    )
    scored = batch.scored
    console.print(
        f"\nScored {len(scored):,} users in trial at {batch.as_of:%Y-%m-%d %H:%M} UTC "
        f"({int(scored['is_pql'].sum()):,} PQLs; {len(batch.leads) - len(scored):,} not "
        "scored: converted or not yet signed up)"
    )
    console.print(_leads_table(scored.head(TOP_LEADS), loaded.version or "?"))
    leads_file, report_file = out / "leads.csv", out / "leads.html"
    write_frame(batch.leads, leads_file)
    write_lead_report(
        batch, dataset.spec, loaded.version, leads_file, report_file, DEFAULT_ROW_LIMIT
    )
    console.print(
        f"demo finished in {time.perf_counter() - started:.0f}s. Every lead: {leads_file}; "
        f"the sales reps' report: {report_file} (open it in a browser)."
    )
    console.print(next_steps(store, spec_path, out, batch.as_of), highlight=False, soft_wrap=True)


def _program(name: str) -> str:
    """How to call the installed program `name` from the current folder."""
    here = Path(sys.executable).parent / name
    if shutil.which(name) == str(here):
        return name  # on PATH (an activated venv, pipx, a system install)
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def next_steps(store: str, spec_path: Path, out: Path, as_of) -> str:
    """The exact commands that serve, score and browse the demo's model from here.

    The score command names the demo's moment (the end of its simulated data): scored
    "now", every simulated trial would have ended long ago.
    """
    pql, mlflow = _program("pql"), _program("mlflow")
    return "\n".join(
        [
            "Next, from this folder:",
            f"  MLFLOW_TRACKING_URI={store} {pql} serve   # HTTP scoring on http://127.0.0.1:3000",
            f"  MLFLOW_TRACKING_URI={store} {pql} score --spec {spec_path} "
            f"--as-of {as_of.isoformat()} --out {out / 'leads.csv'} --audit-reasons",
            f"  {mlflow} ui --backend-store-uri {store}   # runs, metrics and plots",
        ]
    )
