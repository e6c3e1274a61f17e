"""The built wheel installs one top-level name, `pql`, beside a user's own `features/`."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("pql_leads-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_has_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = next(n for n in names if n.endswith("top_level.txt"))
        assert archive.read(top_level).decode().split() == ["pql"]
    roots = {name.split("/", 1)[0] for name in names}
    assert roots == {
        "pql",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }
    for expected in (
        "pql/features/spec.py",
        "pql/serving/service.py",
        "pql/py.typed",
        "pql/training/train.py",
        "pql/simulator/simulated_pql.yaml",
    ):
        assert expected in names


@pytest.mark.slow
def test_installed_wheel_imports_beside_a_users_own_features_package(wheel, tmp_path) -> None:
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    # the test environment's libraries, but not its editable pql (a plain path entry:
    # its .pth files, the editable install among them, are not processed)
    site_packages = next(env_dir.glob("lib/python*/site-packages"))
    (site_packages / "zz_test_deps.pth").write_text(site.getsitepackages()[0] + "\n")
    installed = sorted(p.name for p in site_packages.iterdir() if "pql" in p.name.lower())
    assert (
        installed == ["pql", wheel.name.split("-")[0] + "-0.1.0.dist-info"] or installed[0] == "pql"
    )

    project = tmp_path / "project"
    (project / "features").mkdir(parents=True)
    (project / "features" / "__init__.py").write_text("MINE = True\n")
    probe = (
        "import sys, pql\n"
        "assert not {'lightgbm', 'pandas', 'mlflow'} & set(sys.modules)  # stays cheap\n"
        "import features, pql.features.spec, pql.serving.scoring\n"
        "assert features.MINE\n"
        f"assert pql.__file__.startswith({str(site_packages)!r}), pql.__file__\n"
        "print(pql.load_spec.__module__, pql.features.spec.__file__)\n"
    )
    done = subprocess.run([str(python), "-c", probe], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pql.api ")
    command = subprocess.run(
        [str(env_dir / "bin" / "pql"), "--help"], cwd=project, capture_output=True, text=True
    )
    assert command.returncode == 0 and "demo" in command.stdout
