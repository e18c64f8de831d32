"""The hosepipe command, run as a real console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("hosepipe")


def hosepipe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "hosepipe"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def expected_total(path: Path) -> int:
    total = 0
    with open(path) as f:
        for line in f:
            field = line.rsplit(None, 1)[1]
            if field != "-":
                total += int(field)
    return total


def test_demo_prints_results_and_reuses_its_log(tmp_path: Path) -> None:
    first = hosepipe("demo", "--size-mb", "1", "--cache-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    log = tmp_path / "access-1mb.log"
    assert "generated in" in first.stdout
    assert f"Total bytes sent: {expected_total(log):,}" in first.stdout
    assert "1 map(<lambda>)" in first.stdout
    assert "3 observe('byte counts')" in first.stdout
    assert "Requests by status code:" in first.stdout
    assert "wall time:" in first.stdout
    second = hosepipe("demo", "--size-mb", "1", "--cache-dir", str(tmp_path))
    assert "(reused)" in second.stdout
    assert second.stdout.split("\n")[2] == first.stdout.split("\n")[2]


def test_demo_data_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        assert hosepipe("demo", "--size-mb", "1", "--cache-dir", str(d)).returncode == 0
    assert (a / "access-1mb.log").read_bytes() == (b / "access-1mb.log").read_bytes()


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["--version"], 0, "hosepipe 0.1.0"),
        ([], 2, "usage: hosepipe"),
        (["demo", "--size-mb", "0"], 2, "demo: --size-mb must be >= 1"),
        (["nonsense"], 2, "invalid choice: 'nonsense'"),
        (["demo", "--help"], 0, "--size-mb MB"),
    ],
)
def test_usage(args: list[str], code: int, text: str) -> None:
    result = hosepipe(*args)
    assert result.returncode == code
    assert text in result.stdout + result.stderr
