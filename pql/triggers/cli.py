"""`pql triggers`: which actions separate converters, and a short rule-based PQL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pql.clikit import SpecOption, check_writable, console
from pql.errors import UsageError
from pql.features.cli import load_checked


def triggers_command(
    spec: SpecOption,
    day: Annotated[
        float | None,
        typer.Option(help="Trial day to look at (default: the snapshot nearest 7)."),
    ] = None,
    min_support: Annotated[
        int, typer.Option(min=1, help="Trials needed on each side of a threshold.")
    ] = 30,
    max_conditions: Annotated[
        int, typer.Option(min=1, max=5, help="Conditions in the proposed rules, in all.")
    ] = 5,
    out: Annotated[
        Path, typer.Option(help="Folder for triggers.csv, actions.csv and triggers.md.")
    ] = Path("pql-triggers"),
    write_rules: Annotated[
        bool,
        typer.Option("--write-rules", help="Write the proposed rules into the spec's 'rules'."),
    ] = False,
) -> None:
    """Find the actions that separate converters and propose a short rule-based PQL."""
    from pql.errors import TriggerError
    from pql.triggers.discovery import MAX_DAY, discover_triggers
    from pql.triggers.report import render_triggers, write_trigger_files

    if day is not None and not 0 < day <= MAX_DAY:
        raise UsageError(f"--day: must be a number of days in (0, {MAX_DAY}], got {day:g}")
    check_writable(out, folder=True)
    dataset = load_checked(spec)
    with console.status("Measuring triggers ..."):
        report = discover_triggers(
            dataset, day=day, min_support=min_support, max_conditions=max_conditions
        )
    render_triggers(report, console)
    written = write_trigger_files(report, dataset.spec.product, out)
    console.print("wrote " + ", ".join(str(path) for path in written))
    if not write_rules:
        return
    rules = report.proposal.spec_rules()
    if not rules:
        raise TriggerError(f"{spec}: no rules written: {report.proposal.why_none}")
    write_rules_into_spec(spec, rules, f"proposed by `pql triggers` at day {report.day:g}")
    console.print(f"wrote {len(rules)} rule(s) into {spec} (key 'rules'); try: pql score --rules")


def write_rules_into_spec(path: Path, rules: list[dict[str, str]], header: str) -> None:
    """Replace the spec's rules, proving nothing else changes before the file does.

    A symlinked spec is edited where it points, keeping its permissions; the write is
    atomic, so the spec is either the old one or the new one.
    """
    import os
    import stat

    import yaml

    from pql.errors import SpecError
    from pql.features.spec import parse_spec
    from pql.features.spec_rules import SpecLayoutError, rules_written

    target = path.resolve()
    original = target.read_bytes().decode("utf-8")  # bytes: keep CRLF line endings as they are
    try:
        text = rules_written(original, rules, header)
    except SpecLayoutError as exc:
        block = yaml.safe_dump({"rules": rules}, sort_keys=False, width=1000)
        raise SpecError(f"{path}: rules not written: {exc}. Add them by hand:\n{block}") from None
    parse_spec(yaml.safe_load(text), source=str(path), base_dir=path.parent)
    staging = target.with_name(f".{target.name}.pql-tmp")
    staging.write_bytes(text.encode("utf-8"))
    os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
    staging.replace(target)


def register(app: typer.Typer) -> None:
    """Mount `pql triggers` on the `pql` application."""
    app.command("triggers")(triggers_command)
