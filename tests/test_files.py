"""File sources and sinks on real files: paths, compression, bad input, atomic writes."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hosepipe as hp

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda b: b,
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": lambda b: zstandard.ZstdCompressor().compress(b),
}


def write(path: Path, data: str | bytes) -> Path:
    raw = data.encode() if isinstance(data, str) else data
    for suffix, compress in COMPRESSORS.items():
        if suffix and path.name.endswith(suffix):
            raw = compress(raw)
    path.write_bytes(raw)
    return path


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- read_lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_read_lines_decompresses_by_suffix(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"a.log{suffix}", "one\ntwo\r\nthree")
    assert hp.read_lines(path).to_list() == ["one", "two", "three"]
    assert hp.read_lines(path, keep_ends=True).to_list() == ["one\n", "two\n", "three"]


def test_read_lines_from_lists_globs_and_folders(tmp_path: Path) -> None:
    write(tmp_path / "b.log", "b1\nb2\n")
    write(tmp_path / "a.log.gz", "a1\n")
    write(tmp_path / ".hidden", "h\n")
    write(tmp_path / "c.txt", "c1\n")
    (tmp_path / "sub").mkdir()
    assert hp.read_lines(tmp_path).to_list() == ["a1", "b1", "b2", "c1"]
    assert hp.read_lines(str(tmp_path / "*.log*")).to_list() == ["a1", "b1", "b2"]
    both = [tmp_path / "c.txt", tmp_path / "b.log"]
    assert hp.read_lines(both).to_list() == ["c1", "b1", "b2"]
    assert (
        repr(hp.read_lines(tmp_path / "c.txt"))
        == f"Stream(read_lines({str(tmp_path / 'c.txt')!r}))"
    )


def test_read_lines_runs_again_and_sees_new_content(tmp_path: Path) -> None:
    path = write(tmp_path / "a.log", "1\n")
    s = hp.read_lines(path).map(int)
    assert s.sum() == 1
    write(path, "1\n2\n")
    assert s.sum() == 3


def test_read_lines_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(b"x\ny\n")

    monkeypatch.setattr(sys, "stdin", Stdin())
    assert hp.read_lines("-").to_list() == ["x", "y"]
    assert not Stdin.buffer.closed


def test_missing_files_and_empty_globs_are_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder") as info:
        hp.read_lines(tmp_path / "nope.log").to_list()
    assert info.value.__notes__[0].startswith("hosepipe: in the source read_lines(")
    with pytest.raises(FileNotFoundError, match="no file matches the pattern"):
        hp.read_lines(str(tmp_path / "*.gz")).count()


def test_early_close_closes_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "big.log.gz", "".join(f"{i}\n" for i in range(100_000)))
    before = open_fds()
    it = iter(hp.read_lines(path))
    assert next(it) == "0"
    assert open_fds() == before + 1
    it.close()  # type: ignore[attr-defined]
    assert open_fds() == before


def test_undecodable_line_is_a_data_error_with_its_place(tmp_path: Path) -> None:
    lines = [f"line {i}".encode() for i in range(5000)]
    lines[3456] = b"caf\xe9 latin-1"
    path = write(tmp_path / "mixed.log", b"\n".join(lines) + b"\n")
    with pytest.raises(hp.DataError) as info:
        hp.read_lines(path).to_list()
    e = info.value
    assert (e.path, e.line, e.raw) == (str(path), 3457, b"caf\xe9 latin-1\n")
    assert (
        str(e)
        == f"cannot decode as utf-8: invalid continuation byte ({path}, line 3457: {e.raw!r})"
    )


def test_on_error_skip_and_callable_count_bad_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.log", b"a\n\xff\nb\n\xfe\xfe\nc\n")
    stats = hp.read_lines(path, on_error="skip").observe("good").run()
    assert stats.stage("good").items_out == 3
    assert stats.stages[0].errors == 2
    assert stats.stages[0].errors_by_type == {"DataError": 2}
    seen: list[hp.DataError] = []
    assert hp.read_lines(path, on_error=seen.append).to_list() == ["a", "b", "c"]
    assert [e.line for e in seen] == [2, 4]
    assert hp.read_lines(path, errors="replace").count() == 5


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zst"])
def test_truncated_compressed_file_is_a_data_error(tmp_path: Path, suffix: str) -> None:
    # enough data for several compressed blocks (bz2: 900 kB, zstd: 128 kB) before the cut
    whole = COMPRESSORS[suffix]("".join(f"{i}\n" for i in range(300_000)).encode())
    path = tmp_path / f"cut.log{suffix}"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(hp.DataError, match="truncated or corrupt file") as info:
        hp.read_lines(path).count()
    assert info.value.path == str(path)
    assert info.value.line is not None
    assert info.value.line > 1
    # skipping goes on with the next file
    good = write(tmp_path / f"good.log{suffix}", "ok\n")
    got = hp.read_lines([path, good], on_error="skip").to_list()
    assert got[-1] == "ok"
    assert len(got) == info.value.line


def test_argument_validation_of_readers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^read_lines\(\): unknown `encoding` 'nope'$"):
        hp.read_lines("x", encoding="nope")
    with pytest.raises(ValueError, match=r"^read_lines\(\): `on_error` must be 'raise', 'skip'"):
        hp.read_lines("x", on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^read_jsonl\(\): `path` must be a path"):
        hp.read_jsonl(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^read_bytes\(\): `chunk_size` must be an int >= 1"):
        hp.read_bytes("x", chunk_size=0)
    with pytest.raises(ValueError, match=r"^read_csv\(\): `delimiter` must be one character"):
        hp.read_csv("x", delimiter="::")


# -- read_bytes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_read_bytes_chunks(tmp_path: Path, suffix: str) -> None:
    data = os.urandom(10_000)
    path = write(tmp_path / f"blob{suffix}", data)
    chunks = hp.read_bytes(path, chunk_size=4096).to_list()
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks][:2] == [4096, 4096]


def test_read_bytes_truncated(tmp_path: Path) -> None:
    whole = gzip.compress(os.urandom(50_000))
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[:20_000])
    with pytest.raises(hp.DataError, match=r"truncated or corrupt file at byte \d+"):
        hp.read_bytes(path).count()


# -- read_jsonl ----------------------------------------------------------------------------------


def test_read_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl.gz", '{"a": 1}\n\n  \n[2]\n"s"\n')
    assert hp.read_jsonl(path).to_list() == [{"a": 1}, [2], "s"]
    assert repr(hp.read_jsonl(path)).endswith(".map(parse_jsonl)")


def test_read_jsonl_bad_json(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl", '{"a": 1}\n\n{"a": \n{"a": 3}\n')
    with pytest.raises(hp.DataError, match=r"^invalid JSON: ") as info:
        hp.read_jsonl(path).to_list()
    assert (info.value.line, info.value.raw) == (3, '{"a": ')
    assert info.value.__notes__ == ["hosepipe: in stage 1 map(parse_jsonl), item index 1"]
    stats = hp.read_jsonl(path, on_error="skip").run()
    assert (stats.items_out, stats.errors) == (2, 1)


def test_dead_letters_go_to_a_sink(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl", '{"a": 1}\nnope\n{"a": 3}\n')
    bad = tmp_path / "bad.jsonl"
    got = hp.read_jsonl(path).catch(hp.DataError, dead_letter=hp.write_jsonl(bad)).to_list()
    assert got == [{"a": 1}, {"a": 3}]
    [record] = hp.read_jsonl(bad).to_list()
    assert record["path"] == str(path)
    assert record["line"] == 2
    assert record["raw"] == "nope"
    assert record["stage"] == "map(parse_jsonl)"
    assert record["error"].startswith("DataError: invalid JSON")


# -- read_csv --------------------------------------------------------------------------------------


def test_read_csv_dicts_types_and_multiline_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "o.csv", 'id,note,amount\n1,"two\nlines",9.5\n\n2,plain,3\n')
    rows = hp.read_csv(path, types={"id": int, "amount": float}).to_list()
    assert rows == [
        {"id": 1, "note": "two\nlines", "amount": 9.5},
        {"id": 2, "note": "plain", "amount": 3.0},
    ]


def test_read_csv_line_numbers_and_strict(tmp_path: Path) -> None:
    path = write(tmp_path / "o.csv", 'id,note\n1,"a\nb"\n2,x,EXTRA\n3\n')
    with pytest.raises(hp.DataError, match="expected 2 fields, got 3") as info:
        hp.read_csv(path, strict=True).to_list()
    assert (info.value.line, info.value.raw) == (4, "2,x,EXTRA")
    loose = hp.read_csv(path).to_list()
    assert loose[1] == {"id": "2", "note": "x", None: ["EXTRA"]}
    assert loose[2] == {"id": "3", "note": None}


def test_read_csv_without_header_and_with_fieldnames(tmp_path: Path) -> None:
    path = write(tmp_path / "o.tsv", "1\ta\n2\tb\n")
    assert hp.read_csv(path, header=False, delimiter="\t", types={0: int}).to_list() == [
        (1, "a"),
        (2, "b"),
    ]
    named = hp.read_csv(path, header=False, delimiter="\t", fieldnames=["n", "s"]).to_list()
    assert named == [{"n": "1", "s": "a"}, {"n": "2", "s": "b"}]


def test_read_csv_each_file_has_its_header(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "x,y\n1,2\n")
    write(tmp_path / "b.csv.gz", "y,x\n3,4\n")
    assert hp.read_csv(tmp_path).to_list() == [{"x": "1", "y": "2"}, {"y": "3", "x": "4"}]


def test_read_csv_converter_failure(tmp_path: Path) -> None:
    path = write(tmp_path / "o.csv", "id,amount\n1,2\n2,abc\n")
    with pytest.raises(hp.DataError, match="column 'amount': cannot convert 'abc' with float"):
        hp.read_csv(path, types={"amount": float}).to_list()
    assert hp.read_csv(path, types={"amount": float}, on_error="skip").count() == 1


# -- sinks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_sinks_round_trip_with_compression(tmp_path: Path, suffix: str) -> None:
    lines = tmp_path / f"l.txt{suffix}"
    assert hp.Stream(["a", "b"]).to(hp.write_lines(lines)) == 2
    assert hp.read_lines(lines).to_list() == ["a", "b"]
    records = [{"k": i, "s": "é"} for i in range(3)]
    jl = tmp_path / f"r.jsonl{suffix}"
    assert hp.Stream(records) | hp.write_jsonl(jl) == 3
    assert hp.read_jsonl(jl).to_list() == records
    csv_path = tmp_path / f"r.csv{suffix}"
    assert hp.Stream(records).to(hp.write_csv(csv_path)) == 3
    assert hp.read_csv(csv_path, types={"k": int}).to_list() == records
    assert leftovers(tmp_path) == []


def fail_after(n: int, exc: BaseException) -> Callable[[int], int]:
    def check(x: int) -> int:
        if x == n:
            raise exc
        return x

    return check


@pytest.mark.parametrize("exc", [ValueError("boom"), KeyboardInterrupt()])
@pytest.mark.parametrize(
    "make", [lambda p: hp.write_lines(p), lambda p: hp.write_jsonl(p), lambda p: hp.write_csv(p)]
)
def test_a_failed_run_leaves_the_target_untouched(
    tmp_path: Path, exc: BaseException, make: Callable[[Path], hp.Sink[Any, int]]
) -> None:
    target = tmp_path / "out.data.gz"
    write(target, "old content\n")
    before = target.read_bytes()
    stream = hp.Stream(range(10_000)).map(fail_after(5_000, exc)).map(lambda x: [str(x)])
    if make(target).label.startswith("write_lines"):
        stream = stream.map(lambda row: row[0])
    with pytest.raises(type(exc)):
        stream.to(make(target))
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_new_target_is_not_created_by_a_failed_run(tmp_path: Path) -> None:
    target = tmp_path / "new.txt"
    with pytest.raises(TypeError, match=r"write_lines\(\) writes str items, got int 3"):
        hp.Stream(["1", "2", 3]).to(hp.write_lines(target))
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_write_csv_refuses_misaligned_records(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing \['b'\], extra \['c'\]"):
        hp.Stream([{"a": 1, "b": 2}, {"a": 1, "c": 3}]).to(hp.write_csv(tmp_path / "x.csv"))
    assert leftovers(tmp_path) == []


def test_sink_argument_validation(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^write_lines\(\): the folder .* does not exist"):
        hp.write_lines(tmp_path / "missing" / "x.txt")
    with pytest.raises(IsADirectoryError, match=r"is a folder$"):
        hp.write_jsonl(tmp_path)
    with pytest.raises(TypeError, match=r"^write_jsonl\(\): `default` must be callable"):
        hp.write_jsonl(tmp_path / "x", default=3)  # type: ignore[arg-type]


def test_write_jsonl_default_for_other_values(tmp_path: Path) -> None:
    target = tmp_path / "d.jsonl"
    hp.Stream([{"when": {1, 2}}]).to(hp.write_jsonl(target, default=sorted))
    assert hp.read_jsonl(target).to_list() == [{"when": [1, 2]}]


# -- nothing lost: every line lands in the output or in the dead letter, once -------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.booleans(), max_size=60))
def test_every_input_line_is_in_the_output_or_the_dead_letter_once(
    tmp_path: Path, good_or_bad: list[bool]
) -> None:
    folder = Path(os.path.join(tmp_path, f"case{len(list(tmp_path.iterdir()))}"))
    folder.mkdir()
    lines = [json.dumps({"n": i}) if ok else f"broken {i} {{" for i, ok in enumerate(good_or_bad)]
    source = write(folder / "in.jsonl", "".join(f"{line}\n" for line in lines))
    out, bad = folder / "out.jsonl", folder / "bad.jsonl"

    stream = hp.read_jsonl(source).catch(hp.DataError, dead_letter=hp.write_jsonl(bad))
    with stream.iterate() as it:
        written = hp.Stream(it).to(hp.write_jsonl(out))
    stats = it.stats()

    kept = [r["n"] for r in hp.read_jsonl(out).to_list()] if out.exists() else []
    dead = [r["line"] - 1 for r in hp.read_jsonl(bad).to_list()] if bad.exists() else []
    assert sorted(kept + dead) == list(range(len(lines)))
    assert kept == [i for i, ok in enumerate(good_or_bad) if ok]
    assert dead == [i for i, ok in enumerate(good_or_bad) if not ok]
    assert written == stats.items_out == len(kept)
    assert stats.errors == stats.stages[1].errors == len(dead)
    assert stats.items_in == len(lines)


def test_read_csv_undecodable_line_is_reported_and_skipped(tmp_path: Path) -> None:
    rows = [f"{i},name {i}".encode() for i in range(3000)]
    rows[2000] = b"2000,caf\xe9"
    path = write(tmp_path / "o.csv", b"id,name\n" + b"\n".join(rows) + b"\n")
    with pytest.raises(hp.DataError, match="cannot decode as utf-8") as info:
        hp.read_csv(path).count()
    assert info.value.line == 2002
    got = hp.read_csv(path, on_error="skip", types={"id": int}).map(lambda r: r["id"]).to_list()
    assert got == [i for i in range(3000) if i != 2000]
