"""The distribution as a user gets it: ``python -m build`` makes an sdist and a wheel that
``twine check`` accepts, and the wheel, installed alone into a fresh venv, runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.packaging


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel, built once per session (the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    [sdist] = out.glob("hosepipe-*.tar.gz")
    [wheel] = out.glob("hosepipe-*-py3-none-any.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_twine_accepts_the_sdist_and_the_wheel(dist: dict[str, Path]) -> None:
    done = run(sys.executable, "-m", "twine", "check", "--strict", dist["sdist"], dist["wheel"])
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_the_wheel_holds_the_package_its_command_and_its_extras(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = wheel.namelist()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = wheel.read(metadata).decode()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        commands = wheel.read(entry_points).decode()
    sources = sorted(
        p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src" / "hosepipe").rglob("*.py")
    )
    assert sorted(n for n in names if n.endswith(".py")) == sources
    assert "hosepipe/py.typed" in names
    assert "hosepipe = hosepipe.cli:main" in commands
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert sorted(
        line.split(": ")[1] for line in meta.splitlines() if "Provides-Extra" in line
    ) == (sorted(extras))
    assert "Requires-Python: >=3.11" in meta
    assert "# hosepipe" in meta  # the README is the long description


def test_the_sdist_holds_what_the_wheel_is_built_from(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "src/hosepipe/__init__.py", "src/hosepipe/py.typed"} <= (
        names
    )


def test_the_wheel_installed_alone_runs_the_demo(dist: dict[str, Path], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        "--no-index", dist["wheel"])  # fmt: skip
    where = run(python, "-c", "import hosepipe; print(hosepipe.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    demo = run(venv / "bin" / "hosepipe", "demo", "--size", "1MB", "--cache-dir",
               tmp_path / "cache", cwd=tmp_path)  # fmt: skip
    assert "hosepipe demo: 1 MB access log" in demo.stdout
    assert "Total bytes sent: 585,316,993" in demo.stdout
    assert "Requests by status code:" in demo.stdout
    # nothing but the wheel was installed: an extra's integration says what to install
    missing = subprocess.run(
        [python, "-c", "import hosepipe.http as h; h.paginate('http://127.0.0.1:9/').to_list()"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == (
        "hosepipe._extras.MissingExtraError: hosepipe.http.paginate() needs the httpx package: "
        "pip install 'hosepipe[http]'"
    )
