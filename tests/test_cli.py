"""The hosepipe command, run as a real console script in a subprocess (and under a pty)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("hosepipe")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "hosepipe"]


def hosepipe(
    *args: str, stdin: str | None = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        cwd=cwd,
        check=False,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def expected_total(path: Path) -> int:
    total = 0
    with open(path) as f:
        for line in f:
            field = line.rsplit(None, 1)[1]
            if field != "-":
                total += int(field)
    return total


def table(stderr: str) -> str:
    """The stats table in *stderr*: from its header line to its total line."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("stage "))
    end = next(i for i, line in enumerate(lines) if line.startswith("total: "))
    return "\n".join(lines[start : end + 1])


# A job file with one of each kind of object; tests pick them by NAME.
JOB = """\
    import hosepipe as hp
    from helper import scale  # a neighbour of the job file: its folder is on sys.path

    def parse(line):
        key, value = line.split("=")
        return f"{key.strip()}={scale(int(value))}"

    pipeline = hp.map(parse).filter(lambda s: not s.startswith("skip"))
    numbers = hp.Stream(range(1, 6)).map(lambda x: x * x)
    not_runnable = 42

    def lengths(inputs, output):
        return hp.read_lines(inputs).map(len).map(lambda n: f"{n} -> {output}")

    def nothing():
        return None

    def needs_more(inputs, limit):
        return hp.read_lines(inputs)

    if __name__ == "__main__":
        raise SystemExit("the command must not run the job's main block")
"""


@pytest.fixture
def job(tmp_path: Path) -> Path:
    write(tmp_path / "helper.py", "def scale(n):\n    return n * 10\n")
    return write(tmp_path / "job.py", JOB)


# -- hosepipe run: the paths that succeed ---------------------------------------------------


def test_run_pipeline_over_input_files_to_an_output_file(job: Path, tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "x = 1\nskip = 2\ny=3\n")
    b = write(tmp_path / "b.txt", "z = 4\n")
    out = tmp_path / "out.txt"
    result = hosepipe("run", str(job), "--input", str(a), "-i", str(b), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "x=10\ny=30\nz=40\n"
    assert result.stdout == ""
    stats = table(result.stderr).splitlines()
    assert stats[1].startswith("0 source read_lines([")
    assert stats[2].split()[:5] == ["1", "map(parse)", "4", "4", "0"]
    assert stats[3].split()[:5] == ["2", "filter(<lambda>)", "4", "3", "0"]
    assert stats[-1].startswith("total: 4 in, 3 out, 0 errors; wall time ")
    assert "it/s" not in result.stderr  # stderr is not a terminal: no progress bar
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_run_pipeline_reads_standard_input_and_prints_items(job: Path) -> None:
    result = hosepipe("run", f"{job}:pipeline", "--no-progress", stdin="a=1\nskip=0\nb=2\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a=10\nb=20\n"
    assert "0 source read_lines('-')" in result.stderr
    assert "reading lines from standard input" not in result.stderr  # stdin is not a tty


def test_run_stream_prints_items_and_json_stats(job: Path) -> None:
    result = hosepipe("run", f"{job}:numbers", "--stats", "json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "4", "9", "16", "25"]
    stats = json.loads(result.stderr)
    assert [s["label"] for s in stats["stages"]][:2] == ["range(1, 6)", "map(<lambda>)"]
    assert (stats["items_in"], stats["items_out"], stats["errors"]) == (5, 5, 0)


def test_run_factory_gets_inputs_and_output(job: Path, tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "abc\nde\n")
    out = tmp_path / "lengths.txt"
    result = hosepipe("run", f"{job}:lengths", "-i", str(a), "-o", str(out), "--stats", "none")
    assert result.returncode == 0, result.stderr
    assert out.read_text() == f"3 -> {out}\n2 -> {out}\n"
    assert result.stderr == ""


def test_run_discard_and_stats_file_round_trip_through_hosepipe_stats(
    job: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "stats.json"
    run = hosepipe("run", f"{job}:numbers", "--discard", "--stats-file", str(saved))
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert json.loads(saved.read_text())["items_out"] == 5
    shown = hosepipe("stats", str(saved))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.rstrip("\n") == table(run.stderr)


@pytest.mark.parametrize(
    ("source", "chosen"),
    [
        # `pipeline` wins over `main` and over other pipelines
        (
            "pipeline = hp.Stream(['from pipeline'])\n"
            "main = lambda: hp.Stream(['from main'])\n"
            "other = hp.Stream(['from other'])\n",
            "from pipeline",
        ),
        # then `main`, a factory here
        ("def main():\n    return hp.Stream(['from main'])\nother = hp.map(str)\n", "from main"),
        # then the only Stream or Pipeline in the file (imported modules are not candidates)
        ("import os\nwords = hp.Stream(['only one'])\n_private = hp.Stream([1])\n", "only one"),
    ],
)
def test_run_finds_the_default_name(tmp_path: Path, source: str, chosen: str) -> None:
    job = write(tmp_path / "pick.py", "import hosepipe as hp\n" + source)
    result = hosepipe("run", str(job), "--stats", "none")
    assert result.returncode == 0, result.stderr
    assert result.stdout == chosen + "\n"


def test_run_log_level_shows_the_jobs_log_lines(tmp_path: Path) -> None:
    job = write(
        tmp_path / "logs.py",
        """\
        import logging
        import hosepipe as hp
        log = logging.getLogger("logs")
        pipeline = hp.Stream([1, 2]).tap(lambda x: log.info("saw %d", x))
        """,
    )
    quiet = hosepipe("run", str(job), "--stats", "none")
    loud = hosepipe("run", str(job), "--stats", "none", "--log-level", "info")
    assert quiet.returncode == loud.returncode == 0, loud.stderr
    assert "saw 1" not in quiet.stderr
    assert "INFO logs: saw 1" in loud.stderr
    assert "INFO logs: saw 2" in loud.stderr


# -- hosepipe run: failures -------------------------------------------------------------------


BAD_JOB = """\
    import hosepipe as hp

    def parse(line):
        return int(line)

    pipeline = hp.map(str.strip).map(parse)
"""


def test_pipeline_error_exits_1_with_the_stage_note_and_no_traceback(tmp_path: Path) -> None:
    job = write(tmp_path / "bad.py", BAD_JOB)
    data = write(tmp_path / "in.txt", "1\n2\n3\nx\n5\n")
    out = tmp_path / "out.txt"
    result = hosepipe("run", str(job), "-i", str(data), "-o", str(out))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-2:] == [
        "hosepipe: error: ValueError: invalid literal for int() with base 10: 'x'",
        "hosepipe: in stage 2 map(parse), item index 3",
    ]
    assert "Traceback" not in result.stderr
    assert "total: " in result.stderr  # the stats so far come first
    assert not out.exists()
    assert list(tmp_path.glob(".out.txt*")) == []


def test_traceback_option_prints_the_python_traceback(tmp_path: Path) -> None:
    job = write(tmp_path / "bad.py", BAD_JOB)
    result = hosepipe("run", str(job), "--traceback", stdin="x\n")
    assert result.returncode == 1
    assert "Traceback (most recent call last):" in result.stderr
    assert result.stderr.splitlines()[-2:] == [
        "ValueError: invalid literal for int() with base 10: 'x'",
        "hosepipe: in stage 2 map(parse), item index 0",
    ]
    assert "hosepipe: error:" not in result.stderr


def test_an_error_while_loading_the_file_exits_1_naming_the_line(tmp_path: Path) -> None:
    job = write(tmp_path / "broken.py", "import hosepipe as hp\n\nratio = 1 / 0\n")
    result = hosepipe("run", str(job))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "hosepipe: error: ZeroDivisionError: division by zero",
        f"hosepipe: while loading {job}, line 3",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "{tmp}/missing.py"], "no such file: '{tmp}/missing.py'"),
        (["run", "{job}:absent"], "{job} has no 'absent'; it defines: numbers, pipeline"),
        (["run", "{job}:not_runnable"], "not_runnable is int 42, not a Stream, a Pipeline or"),
        (["run", "{job}:nothing"], "nothing() returned None, not a Stream or a Pipeline"),
        (["run", "{job}:needs_more"], "needs_more() needs limit: a factory may take only"),
        (["run", "{job}:numbers", "-i", "{job}"], "--input was given, but numbers is a Stream"),
        (["run", "{job}", "-i", "{tmp}/nope.txt"], "--input: no such file or folder: '"),
        (["run", "{job}", "-o", "{tmp}/no/out.txt"], "--output: the folder '{tmp}/no' does not"),
        (["run", "{job}", "--stats", "xml"], "argument --stats: invalid choice: 'xml'"),
        (["run", "{job}", "-o", "x", "--discard"], "not allowed with argument -o/--output"),
    ],
)
def test_usage_errors_exit_2(job: Path, tmp_path: Path, args: list[str], message: str) -> None:
    def fill(text: str) -> str:
        return text.format(job=job, tmp=tmp_path)

    result = hosepipe(*map(fill, args))
    assert result.returncode == 2, result.stderr
    assert fill(message) in result.stderr
    assert "usage: hosepipe run" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_candidates_is_a_usage_error_listing_them(tmp_path: Path) -> None:
    job = write(tmp_path / "two.py", "import hosepipe as hp\nb = hp.map(str)\na = hp.Stream([])\n")
    result = hosepipe("run", str(job))
    assert result.returncode == 2
    assert f"{job} defines several pipelines (a, b): choose one with {job}:NAME" in result.stderr


def test_ctrl_c_stops_cleanly_with_partial_stats(tmp_path: Path) -> None:
    started = tmp_path / "started"
    job = write(
        tmp_path / "slow.py",
        f"""\
        import itertools, pathlib, time
        import hosepipe as hp

        def slow(n):
            if n == 20:
                pathlib.Path({str(started)!r}).touch()
            time.sleep(0.01)
            return str(n)

        pipeline = hp.Stream(itertools.count()).map(slow, concurrency=4)
        """,
    )
    out = tmp_path / "out.txt"
    child = subprocess.Popen(
        [*COMMAND, "run", str(job), "-o", str(out)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not started.exists() and child.poll() is None:
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)  # prompt: a hang fails here
    finally:
        child.kill()
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    rows = table(stderr).splitlines()
    assert rows[2].startswith("1 map(slow, concurrency=4)")
    assert int(rows[1].split()[4].replace(",", "")) >= 20  # items read before the interrupt
    assert stderr.splitlines()[-1] == (
        "hosepipe: interrupted: the run was stopped and closed; nothing was written to --output"
    )
    assert not out.exists()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__")
    assert left == ["slow.py", "started"]  # no output file, no temporary file


def test_a_closed_standard_output_stops_the_run(tmp_path: Path) -> None:
    job = write(
        tmp_path / "endless.py",
        "import itertools, hosepipe as hp\npipeline = hp.Stream(itertools.count())\n",
    )
    child = subprocess.Popen(
        [*COMMAND, "run", str(job)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stderr is not None
        assert child.stdout.readline() == "0\n"
        child.stdout.close()  # as `| head -1` does
        stderr = child.stderr.read()
        child.wait(timeout=30)
    finally:
        child.kill()
        if child.stderr is not None:
            child.stderr.close()
    assert child.returncode == 141, stderr
    assert stderr.splitlines()[-1] == "hosepipe: standard output was closed: the run was stopped"
    assert "Exception ignored" not in stderr


# -- progress bars ---------------------------------------------------------------------------


def in_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run the command with standard error on a pseudo-terminal (100 columns; standard
    output goes to a file); returns its exit status, its standard output and what the
    terminal received."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with open(cwd / "stdout.txt", "w+") as out:
        child = subprocess.Popen(
            [*COMMAND, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=slave, cwd=cwd
        )
        os.close(slave)
        received = bytearray()
        try:
            while chunk := os.read(master, 65536):
                received += chunk
        except OSError:  # EIO: every writer to the terminal has gone
            pass
        finally:
            os.close(master)
        code = child.wait(timeout=120)
        out.seek(0)
        return code, out.read(), received.decode()


def test_progress_bar_on_a_terminal_only(job: Path, tmp_path: Path) -> None:
    data = write(tmp_path / "in.txt", "".join(f"k{i} = {i}\n" for i in range(1000)))
    args = ("run", str(job), "-i", str(data), "--stats-file", "stats.json")
    code, stdout, terminal = in_terminal(*args, cwd=tmp_path)
    assert code == 0, terminal
    assert stdout.splitlines()[-1] == "k999=9990"
    # the bar counts the bytes of the input file, and ends full
    assert "pipeline: 100%|" in terminal
    assert "B/s]" in terminal
    assert terminal.index("pipeline: 100%|") < terminal.index("total: 1,000 in, 1,000 out")
    labels = [s["label"] for s in json.loads((tmp_path / "stats.json").read_text())["stages"]]
    assert labels[-1] == "progress('pipeline')"

    code, _, terminal = in_terminal(*args, "--no-progress", cwd=tmp_path)
    assert code == 0, terminal
    assert "pipeline:" not in terminal
    assert "%|" not in terminal
    assert "total: 1,000 in, 1,000 out" in terminal


def test_progress_option_forces_a_bar_without_a_terminal(job: Path) -> None:
    result = hosepipe("run", f"{job}:numbers", "--progress", "--discard", "--stats", "none")
    assert result.returncode == 0, result.stderr
    assert "numbers: 5it [" in result.stderr


def test_demo_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    code, stdout, terminal = in_terminal(
        "demo", "--size-mb", "1", "--cache-dir", str(tmp_path), cwd=tmp_path
    )
    assert code == 0, terminal
    assert "byte sum: 100%|" in terminal
    assert "byte counts: 11748it [" in terminal
    assert "5 progress('byte sum')" in stdout
    assert "Total bytes sent: " in stdout


# -- hosepipe stats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file: '{path}'"),
        ('{"stages": [', "{path} is not valid JSON: "),
        ('{"stages": {}}', "stats.stages must be an array of stages, got an object"),
        (
            '{"stages": [{"position": 0, "label": "x", "items_in": 0, "items_out": "7",'
            ' "errors": 0, "time": 0.0}], "wall_time": 1.0}',
            "stages[0].items_out must be an integer >= 0, got '7'",
        ),
    ],
)
def test_stats_of_a_bad_file_is_a_usage_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "stats.json"
    if content is not None:
        path.write_text(content)
    result = hosepipe("stats", str(path))
    assert result.returncode == 2
    assert message.format(path=path) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# -- help, version and the demo ---------------------------------------------------------------


def test_help_texts_describe_every_command_and_option() -> None:
    top = hosepipe("--help")
    run = hosepipe("run", "--help")
    stats = hosepipe("stats", "--help")
    assert top.returncode == run.returncode == stats.returncode == 0
    for command in ("run", "stats", "demo"):
        assert f"    {command} " in top.stdout
    for option in (
        "--input PATH",
        "--output PATH",
        "--discard",
        "--progress, --no-progress",
        "--stats {table,json,none}",
        "--stats-file PATH",
        "--log-level LEVEL",
        "--traceback",
        "FILE.py[:NAME]",
    ):
        assert option in run.stdout
    for text in ("exit status:", "130  interrupted (Ctrl-C)", "`pipeline`, else `main`"):
        assert text in run.stdout
    assert "FILE.json" in stats.stdout
    assert "--stats-file" in stats.stdout


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
    assert first.stderr == ""  # stderr is not a terminal: no bar
    assert "progress(" not in first.stdout
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
        (["demo", "--size-mb", "0"], 2, "demo: --size must be at least 1MB"),
        (["demo", "--size", "0MB"], 2, "demo: --size must be at least 1MB"),
        (
            ["demo", "--size", "1.5MB"],
            2,
            "argument --size: '1.5MB' is not a size in whole megabytes or gigabytes, "
            "such as 50MB or 1GB",
        ),
        (["demo", "--help"], 0, "--size SIZE"),
        (["nonsense"], 2, "invalid choice: 'nonsense'"),
        (["demo", "--help"], 0, "--size-mb MB"),
    ],
)
def test_usage(args: list[str], code: int, text: str) -> None:
    result = hosepipe(*args)
    assert result.returncode == code
    assert text in result.stdout + result.stderr


def test_importing_the_cli_is_light() -> None:
    heavy = "{'argparse', 'inspect', 'json', 'logging', 'runpy', 'importlib.util', 'pathlib'}"
    code = f"import sys, hosepipe.cli; print(sorted({heavy} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
