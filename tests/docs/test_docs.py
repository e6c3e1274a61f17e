"""The docs cannot rot: their Python examples run, and their tables match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pql.errors import ExitCode
from pql.settings import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    return FENCE.findall(page.read_text(encoding="utf-8"))


def pages_with_python() -> list[Path]:
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [page for page in pages if python_blocks(page)]


@pytest.mark.slow
@pytest.mark.parametrize("page", pages_with_python(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run(page: Path, tmp_path, monkeypatch) -> None:
    """Each page's blocks run in order, in one namespace, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_URI", "PQL_MODEL_URI", "PQL_MODEL_NAME", "PQL_SCORE_HISTORY"):
        monkeypatch.delenv(name, raising=False)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, block in enumerate(python_blocks(page), start=1):
        code = compile(block, f"{page.name} block {number}", "exec")
        exec(code, namespace)


def test_exit_code_table_matches_the_code() -> None:
    text = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    table = text.split("## Exit codes", 1)[1]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert documented == {int(code) for code in ExitCode}


def test_settings_table_matches_the_code() -> None:
    text = (DOCS / "reference" / "settings.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", text, re.M))
    assert documented == set(ENVIRONMENT)


def test_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    assert "make demo" in readme and "make test" in readme
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).exists(), link


def spec_blocks() -> list[tuple[str, str]]:
    found = []
    for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for block in re.findall(r"^```yaml\n(.*?)^```", page.read_text("utf-8"), re.S | re.M):
            if re.search(r"^product:", block, re.M):
                found.append((str(page.relative_to(ROOT)), block))
    return found


SPECS = spec_blocks()


@pytest.mark.parametrize(
    ("page", "block"), SPECS, ids=[f"{page}#{n}" for n, (page, _) in enumerate(SPECS)]
)
def test_spec_examples_are_valid_specs(page: str, block: str) -> None:
    import yaml

    from pql.features.spec import parse_spec

    parse_spec(yaml.safe_load(block), source=page)


def test_readme_shows_the_demos_top_ten_leads() -> None:
    """scripts/readme_demo_leads.py writes this block; its leads are ranked by score."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- demo-leads:start -->")[1].split("<!-- demo-leads:end -->")[0]
    rows = [line for line in block.splitlines() if line.startswith("| u0")]
    assert len(rows) == 10
    scores = [float(row.split("|")[2]) for row in rows]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) >= 8
