"""follow(): lines as a writer thread appends them."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import hosepipe as hp


class Writer(threading.Thread):
    """Appends ``line N`` every few milliseconds, sometimes in two parts, until stopped."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.halt = threading.Event()
        self.written = 0

    def run(self) -> None:
        with open(self.path, "a") as f:
            while not self.halt.is_set():
                line = f"line {self.written}\n"
                f.write(line[:3])  # a partial line first: follow must wait for the rest
                f.flush()
                time.sleep(0.001)
                f.write(line[3:])
                f.flush()
                self.written += 1
                time.sleep(0.003)


def test_follow_yields_new_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("old 1\nold 2\n")
    writer = Writer(path)
    writer.start()
    try:
        # Following starts wherever the writer is: the first line may be the end of a line
        # begun before, as with tail -f. Every line after it is whole.
        got = hp.follow(path, poll=0.005).take(21).to_list()[1:]
    finally:
        writer.halt.set()
        writer.join()
    assert len(got) == 20
    numbers = [int(line.split()[1]) for line in got]
    assert all(line.startswith("line ") for line in got)  # not the old lines, no fragments
    assert numbers == list(range(numbers[0], numbers[0] + 20))


def test_follow_stops_on_event_and_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("a\nb\n")
    stop = threading.Event()
    fds = len(os.listdir("/proc/self/fd"))
    timer = threading.Timer(0.05, stop.set)
    timer.start()
    # it returns (a follow that missed the event would poll until the test times out)
    assert hp.follow(path, poll=0.01, stop=stop, from_start=True).to_list() == ["a", "b"]
    timer.join()
    assert len(os.listdir("/proc/self/fd")) == fds


def test_follow_stop_callable_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("x\n")
    calls = []

    def stop() -> bool:
        calls.append(1)
        if len(calls) == 2:
            path.write_text("")  # truncated in place: now shorter than what was read
        if len(calls) == 4:
            path.write_text("y\n")
        return len(calls) > 6

    assert hp.follow(path, poll=0.001, stop=stop, from_start=True).to_list() == ["x", "y"]


def test_follow_validation() -> None:
    with pytest.raises(ValueError, match=r"^follow\(\): `poll` must be a number of seconds > 0"):
        hp.follow("x", poll=0)
    with pytest.raises(
        TypeError, match=r"^follow\(\): `stop` must be None, an Event or a callable"
    ):
        hp.follow("x", stop=5)


def test_follow_ends_lines_as_read_lines_does(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    path.write_bytes(b"crlf\r\nlone\rcr\nlf\nextra\r\r\n")
    want = hp.read_lines(path).to_list()
    got = hp.follow(path, from_start=True, stop=lambda: True, poll=0.005).take(4).to_list()
    assert got == want == ["crlf", "lone\rcr", "lf", "extra\r"]
