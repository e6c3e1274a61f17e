"""`pql demo`, the README's first command, end to end on a small simulated product,
and the next steps it prints: they must work from where the user stands."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from pql.errors import ExitCode
from tests.pql.test_cli import run
from tests.webhook import free_port


def _next_steps(text: str) -> dict[str, list[str]]:
    """The printed commands, by what they do: serve, score, ui."""
    block = text.split("Next, from this folder:", 1)[1].splitlines()
    commands = [shlex.split(line.split("#", 1)[0]) for line in block if line.startswith("  ")]
    by_kind = {}
    for words in commands:
        for kind in ("serve", "score", "ui"):
            if kind in words:
                by_kind[kind] = words
    return by_kind


def _as_process(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """`VAR=value program args` as an environment and an argument list."""
    env = dict(os.environ)
    while "=" in words[0] and not words[0].startswith("-"):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


@pytest.mark.slow
@pytest.mark.server
def test_demo_trains_promotes_and_hands_over_the_leads(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, text = run(["demo", "--users", "3000", "--out", "demo"], monkeypatch, capsys)
    assert code == 0, text
    assert "Hottest 10 leads" in text and "ui --backend-store-uri" in text
    leads = pd.read_csv(tmp_path / "demo" / "leads.csv")
    assert len(leads) == 3000  # every simulated user keeps a row, scored or not
    assert (leads["is_pql"] == True).any()  # noqa: E712 (empty for rows not scored)
    top = leads.head(10)["score"]  # the score ranks: the top leads do not pile up at 99
    assert (top >= 99).sum() <= 1 and top.nunique() >= 8, top.tolist()
    assert top.is_monotonic_decreasing and set(leads["model_status"]) == {"champion"}
    page = (tmp_path / "demo" / "leads.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and str(leads.iloc[0]["entity_id"]) in page
    assert (tmp_path / "demo" / "mlflow.db").exists()
    assert not (tmp_path / "mlflow.db").exists()  # the demo keeps to its own folder

    steps = _next_steps(text)
    assert set(steps) == {"serve", "score", "ui"}, text

    # the printed score command, run as printed from the same folder
    env, score = _as_process(steps["score"])
    (tmp_path / "demo" / "leads.csv").unlink()
    done = subprocess.run(score, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout
    rescored = pd.read_csv(tmp_path / "demo" / "leads.csv")
    assert len(rescored) == 3000
    # the demo's own moment: the same entities are scored, and every reason holds
    assert (rescored["status"] == "scored").sum() == (leads["status"] == "scored").sum()
    assert "reason audit: 0 contradiction(s)" in done.stdout.replace("\n", " ")

    # `pql serve` as the old README showed it (no store here): exit 6, naming the store
    bare = [sys.executable, "-m", "pql", "serve", "--port", str(free_port())]
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PQL_"))}
    refused = subprocess.run(bare, env=plain_env, cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == ExitCode.MODEL_STORE, refused.stderr
    assert "no MLflow store" in refused.stderr

    # the printed serve command answers /readyz
    env, serve = _as_process(steps["serve"])
    port = free_port()
    server = subprocess.Popen(
        [*serve, "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_ready(port, server)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)

    # the printed MLflow UI command names the demo's store
    assert f"sqlite:///{Path('demo') / 'mlflow.db'}" in steps["ui"]


def _wait_ready(port: int, server: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"pql serve exited {server.returncode}: {server.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("pql serve did not become ready")
