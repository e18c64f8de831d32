"""Regressions from the review of sources and sinks: each test failed before its fix."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard

import hosepipe as hp


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_stdin_with_a_bad_byte_loses_no_line(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [f"line {i}".encode() for i in range(3000)]
    lines[2500] = b"line \xff"

    class Stdin:
        buffer = io.BytesIO(b"\n".join(lines) + b"\n")

    monkeypatch.setattr(sys, "stdin", Stdin())
    errors: list[hp.DataError] = []
    got = hp.read_lines("-", on_error=errors.append).to_list()
    assert len(got) == 2999
    assert [e.line for e in errors] == [2501]


def test_follow_moves_to_the_new_file_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("line A\n")
    idle = []

    def stop() -> bool:
        idle.append(1)
        if len(idle) == 1:
            os.rename(path, tmp_path / "app.log.1")  # rotated: for a while, no file at all
        elif len(idle) == 3:
            path.write_text("n1\n")
        return len(idle) > 5

    assert hp.follow(path, poll=0.001, stop=stop, from_start=True).to_list() == ["line A", "n1"]


def test_follow_reads_lines_written_just_before_stop(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("old\n")

    def stop() -> bool:
        with open(path, "a") as f:
            f.write("new 1\nnew 2\n")
        return True

    assert hp.follow(path, poll=0.001, stop=stop, from_start=True).to_list() == [
        "old",
        "new 1",
        "new 2",
    ]


def test_an_encoding_error_names_its_item_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    items = ["a", "b", "c", "d", "e", "café", "g"]
    with pytest.raises(UnicodeEncodeError) as info:
        hp.Stream(items).to(hp.write_lines(target, encoding="ascii"))
    assert info.value.__notes__ == [
        f"hosepipe: in the terminal to(write_lines({str(target)!r})), item index 5"
    ]
    assert target.read_text() == "old\n"
    assert leftovers(tmp_path) == []


def test_written_files_keep_the_target_permissions(tmp_path: Path) -> None:
    target = tmp_path / "shared.jsonl"
    target.write_text("")
    target.chmod(0o644)
    hp.Stream([{"a": 1}]).to(hp.write_jsonl(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    fresh = tmp_path / "fresh.jsonl"
    hp.Stream([{"a": 1}]).to(hp.write_jsonl(fresh))
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


class _Failing(hp.Sink):  # type: ignore[type-arg]
    label = "failing()"

    def open(self) -> Any:
        return self

    def write(self, item: Any) -> None:
        raise KeyError(item)

    def commit(self) -> None:  # pragma: no cover - never reached
        raise AssertionError

    def abort(self) -> None:
        raise OSError("abort broke")


def test_a_failing_abort_does_not_hide_the_error() -> None:
    with pytest.raises(KeyError) as info:
        hp.Stream([1]).to(_Failing())
    assert "hosepipe: aborting failing() failed too: OSError('abort broke')" in info.value.__notes__


def test_dead_letters_have_the_same_columns_for_every_error(tmp_path: Path) -> None:
    def parse(x: str) -> int:
        if x == "d":
            raise hp.DataError("bad record", path="in.txt", line=4, raw=x)
        return int(x)

    bad = tmp_path / "bad.csv"
    got = (
        hp.Stream(["1", "x", "3", "d"]).map(parse).catch(ValueError, dead_letter=hp.write_csv(bad))
    )
    assert got.to_list() == [1, 3]
    rows = hp.read_csv(bad).to_list()
    assert [(r["item"], r["path"], r["line"]) for r in rows] == [
        ("x", "", ""),
        ("d", "in.txt", "4"),
    ]


def test_a_clean_run_replaces_an_old_dead_letter_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    stream = hp.Stream(["1", "x"]).map(int).catch(ValueError, dead_letter=hp.write_jsonl(bad))
    stream.run()
    assert hp.read_jsonl(bad).count() == 1
    hp.Stream(["1"]).map(int).catch(ValueError, dead_letter=hp.write_jsonl(bad)).run()
    assert hp.read_jsonl(bad).count() == 0


def test_concatenated_zstd_frames_are_all_read(tmp_path: Path) -> None:
    path = tmp_path / "two.log.zst"
    frame = zstandard.ZstdCompressor().compress
    path.write_bytes(frame(b"a\nb\n") + frame(b"c\n"))
    assert hp.read_lines(path).to_list() == ["a", "b", "c"]
