"""Outputs are atomic: a failed or killed write leaves the previous file whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pql.clikit import write_frame


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "leads.csv"
    write_frame(pd.DataFrame({"entity_id": ["a", "b"]}), out)
    good = out.read_bytes()

    def half_then_fail(self, path, **kwargs) -> None:
        Path(path).write_text("entity_id\nx\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(OSError):
        write_frame(pd.DataFrame({"entity_id": ["c"] * 10}), out)
    assert out.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["leads.csv"]  # no partial left


@pytest.mark.slow
def test_a_killed_write_leaves_the_old_file_or_none(tmp_path: Path) -> None:
    out = tmp_path / "leads.csv"
    write_frame(pd.DataFrame({"entity_id": ["old"]}), out)
    script = (
        "import pandas as pd, sys\n"
        "from pathlib import Path\n"
        "from pql.clikit import write_frame\n"
        "frame = pd.DataFrame({'entity_id': [f'u{i}' for i in range(3_000_000)], 'p': 0.5})\n"
        "print('writing', flush=True)\n"
        f"write_frame(frame, Path({str(out)!r}))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "writing"
    time.sleep(0.4)  # well inside the write (several seconds for 3M rows)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert pd.read_csv(out)["entity_id"].tolist() == ["old"]  # never a truncated file
