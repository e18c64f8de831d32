"""File sources and sinks on real files: paths, compression, bad input, atomic writes."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hosepipe as hp
from hosepipe.sources._files import _BLOCK

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


# -- line ends and line numbers: "\n" and "\r\n" end a line, a lone "\r" is text -------------------
#
# The readers decode large blocks (the fast path); after an undecodable byte they go on line by
# line (the slow path), as they do for standard input. Both must split and number lines alike.

# this many lines of 100 bytes fill more than two of the fast path's reads: put before a bad
# line, they make the readers hand out good blocks first and then go on the slow path
PAD_LINES = 2 * _BLOCK // 100 + 1


def reference_lines(text: str, keep_ends: bool = False) -> list[str]:
    """The documented rule, spelled out: split at "\\n", then drop one "\\r" before it."""
    parts = text.split("\n")
    last = parts.pop()
    lines = [p.removesuffix("\r") + ("\n" if keep_ends else "") for p in parts]
    return [*lines, last] if last else lines


def via_stdin(data: bytes, read: Callable[[str], hp.Stream[Any]]) -> list[Any]:
    """What *read* gives for standard input holding *data* (read line by line)."""

    class Stdin:
        buffer = io.BytesIO(data)

    with mock.patch.object(sys, "stdin", Stdin()):
        return read("-").to_list()


def test_a_lone_cr_is_part_of_the_line(tmp_path: Path) -> None:
    data = b"a\rb\nc\r\nd\r\r\n\r\ne\r"
    path = write(tmp_path / "cr.log", data)
    assert hp.read_lines(path).to_list() == ["a\rb", "c", "d\r", "", "e\r"]
    assert hp.read_lines(path, keep_ends=True).to_list() == ["a\rb\n", "c\n", "d\r\n", "\n", "e\r"]
    assert via_stdin(data, hp.read_lines) == ["a\rb", "c", "d\r", "", "e\r"]
    gz = write(tmp_path / "cr.log.gz", data)
    assert hp.read_lines(gz).to_list() == ["a\rb", "c", "d\r", "", "e\r"]


def test_a_lone_cr_before_an_undecodable_line_loses_no_line(tmp_path: Path) -> None:
    lines = [b"a\rb"] + [f"line {i}".encode() for i in range(1, 5000)]
    lines[3000] = b"caf\xe9"
    path = write(tmp_path / "mixed.log", b"\r\n".join(lines) + b"\r\n")
    seen: list[hp.DataError] = []
    got = hp.read_lines(path, on_error=seen.append).to_list()
    assert got == ["a\rb"] + [f"line {i}" for i in range(1, 5000) if i != 3000]
    assert [(e.line, e.raw) for e in seen] == [(3001, b"caf\xe9\r\n")]


def test_read_jsonl_numbers_lines_holding_a_lone_cr(tmp_path: Path) -> None:
    pad = b"".join((b"[%d]" % i).ljust(99) + b"\n" for i in range(PAD_LINES))
    data = b'{"a":\r1}\n' + pad + b'\xff\n{"b": 2}\nnope\r\n[3]\r'
    path = write(tmp_path / "e.jsonl", data)
    seen: list[hp.DataError] = []
    got = hp.read_jsonl(path, on_error=seen.append).to_list()
    assert got == [{"a": 1}, *([i] for i in range(PAD_LINES)), {"b": 2}, [3]]
    assert [e.line for e in seen] == [PAD_LINES + 2, PAD_LINES + 4]
    assert seen[1].raw == "nope"


def reject(value: str) -> Any:
    raise ValueError(f"rejected {value}")


def test_read_csv_line_numbers_after_a_skipped_undecodable_line(tmp_path: Path) -> None:
    data = b'id,amount\n1,1.0\n2,caf\xe9\n3,3.0\n4,abc\n5,"multi\nline"\n6,xyz\n'
    path = write(tmp_path / "o.csv", data)
    seen: list[hp.DataError] = []
    rows = hp.read_csv(path, types={"amount": float}, on_error=seen.append).to_list()
    assert rows == [{"id": "1", "amount": 1.0}, {"id": "3", "amount": 3.0}]
    assert [e.line for e in seen] == [3, 5, 6, 8]
    assert seen[0].raw == b"2,caf\xe9\n"
    # the same after the fast path handed out a block, and from standard input
    pad = b"".join((b"%d,0" % i).ljust(99) + b"\n" for i in range(PAD_LINES))
    path = write(tmp_path / "big.csv", data[:10] + pad + data[10:])
    seen.clear()
    assert len(hp.read_csv(path, types={"amount": float}, on_error=seen.append).to_list()) == (
        PAD_LINES + 2
    )
    assert [e.line for e in seen] == [PAD_LINES + n for n in (3, 5, 6, 8)]
    seen.clear()
    via_stdin(data, lambda p: hp.read_csv(p, types={"amount": float}, on_error=seen.append))
    assert [e.line for e in seen] == [3, 5, 6, 8]


def test_read_csv_line_numbers_with_lone_crs_and_quoted_line_ends(tmp_path: Path) -> None:
    # a lone "\r" ends a CSV record but not a line: records 2 and 3 both start on line 3;
    # a "\r\n" or "\n" inside quotes ends a line (records 3 and 4 end a line further on)
    data = 'n,note\n1,"a\rb"\n2,x\r3,"c\r\nd"\n4,"e\nf\rg"\r\n5,y\r'
    path = write(tmp_path / "o.csv", data)
    expected = [("1", "a\rb"), ("2", "x"), ("3", "c\r\nd"), ("4", "e\nf\rg"), ("5", "y")]
    assert hp.read_csv(path).map(lambda r: (r["n"], r["note"])).to_list() == expected
    seen: list[hp.DataError] = []
    hp.read_csv(path, types={"n": reject}, on_error=seen.append).run()
    assert [(e.line, e.raw) for e in seen] == [
        (2, "1,a\rb"),
        (3, "2,x"),
        (3, "3,c\r\nd"),
        (5, "4,e\nf\rg"),
        (7, "5,y"),
    ]
    seen.clear()
    via_stdin(data.encode(), lambda p: hp.read_csv(p, types={"n": reject}, on_error=seen.append))
    assert [e.line for e in seen] == [2, 3, 3, 5, 7]


def test_read_csv_invalid_csv_and_truncated_file_name_their_lines(tmp_path: Path) -> None:
    too_long = "x" * (csv.field_size_limit() + 1)
    path = write(tmp_path / "o.csv", f"a,b\n1,2\r3,{too_long}\n4,5\n")
    seen: list[hp.DataError] = []
    assert hp.read_csv(path, on_error=seen.append).to_list() == [
        {"a": "1", "b": "2"},
        {"a": "4", "b": "5"},
    ]
    assert [(e.line, str(e).split(":")[0]) for e in seen] == [(2, "invalid CSV")]
    whole = gzip.compress(("a,b\n" + "".join(f"{i},{i}\n" for i in range(300_000))).encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    seen.clear()
    rows = hp.read_csv(cut, on_error=seen.append).count()
    [error] = seen
    assert str(error).startswith("truncated or corrupt file")
    assert error.line == rows + 2  # the header, the rows read, then the line it stopped at


# text made of the characters that matter: line ends, a lone "\r", what str.splitlines() also
# splits at ("\x0c", "\x85", "\u2028"), and non-ASCII text
TEXT = st.text(alphabet="ab é\r\x0c\x85\u2028", max_size=8)
ENDS = st.sampled_from(["\n", "\r\n"])


def numbered_folder(tmp_path: Path) -> Path:
    folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    return folder


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.tuples(TEXT, ENDS), max_size=20),
    last=TEXT,
    bad_at=st.none() | st.integers(0, 20),
    pad=st.booleans(),
)
def test_fast_and_slow_paths_split_lines_alike(
    tmp_path: Path, lines: list[tuple[str, str]], last: str, bad_at: int | None, pad: bool
) -> None:
    folder = numbered_folder(tmp_path)
    good = [t + end for t, end in lines] + [last]
    if pad:
        good = ["x" * 99 + "\n"] * PAD_LINES + good
    raw = [line.encode() for line in good]
    bad_line = None
    if bad_at is not None:
        bad_at = min(bad_at + (PAD_LINES if pad else 0), len(good) - 1)
        raw.insert(bad_at, b"caf\xe9\n")
        bad_line = bad_at + 1
    data = b"".join(raw)
    path = write(folder / "in.txt", data)
    expected = reference_lines("".join(good))
    expected_ends = reference_lines("".join(good), keep_ends=True)

    seen: list[hp.DataError] = []
    assert hp.read_lines(path, on_error=seen.append).to_list() == expected
    seen_stdin: list[hp.DataError] = []  # standard input: the slow path throughout
    assert via_stdin(data, lambda p: hp.read_lines(p, on_error=seen_stdin.append)) == expected
    bad_lines = [] if bad_line is None else [bad_line]
    assert [e.line for e in seen] == [e.line for e in seen_stdin] == bad_lines
    assert hp.read_lines(path, keep_ends=True, on_error="skip").to_list() == expected_ends
    assert via_stdin(data, lambda p: hp.read_lines(p, keep_ends=True, on_error="skip")) == (
        expected_ends
    )


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.tuples(TEXT, ENDS), max_size=12),
    last=TEXT,
    block=st.integers(1, 9),
)
def test_line_lists_split_and_place_blocks_as_the_exact_rule(
    lines: list[tuple[str, str]], last: str, block: int
) -> None:
    """The default reader's no-copy split (``_line_lists``) gives, read after read, the lines
    and block offsets of ``_split_lines`` over ``_text_blocks``' blocks, whatever a read cuts:
    a "\r\n", a character of two bytes, a line spread over several reads."""
    from hosepipe.sources import _files

    data = "".join(t + end for t, end in lines) + last
    with mock.patch.object(_files, "_BLOCK", block):
        starts, ref_starts = [0], [0]
        got, ref = [], []
        for got_lines, ref_block in zip(
            _files._line_lists(io.BytesIO(data.encode()), "utf-8", "strict", starts),
            _files._text_blocks(io.BytesIO(data.encode()), "utf-8", "strict", ref_starts),
            strict=True,
        ):
            got.append((got_lines, starts[0]))
            ref.append((_files._split_lines(ref_block, False), ref_starts[0]))
        assert got == ref
        assert [line for lines_, _ in got for line in lines_] == reference_lines(data)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.lists(st.sampled_from(["json", "blank", "invalid", "undecodable"]), max_size=20),
    ends=st.lists(ENDS, min_size=20, max_size=20),
    spaces=st.lists(st.sampled_from(["", " ", "\r", "\r\r", "\t\r "]), min_size=20, max_size=20),
    pad=st.booleans(),
)
def test_fast_and_slow_paths_number_lines_alike(
    tmp_path: Path, kinds: list[str], ends: list[str], spaces: list[str], pad: bool
) -> None:
    folder = numbered_folder(tmp_path)
    raw = [b" " * 99 + b"\n"] * PAD_LINES if pad else []
    values, bad_lines = [], []
    for i, kind in enumerate(kinds):
        ws = spaces[i]  # JSON whitespace may hold a lone "\r"
        line = {
            "json": f"[{ws}{i}{ws}]".encode(),
            "blank": ws.encode(),
            "invalid": f"nope{ws}{i}".encode(),
            "undecodable": b"caf\xe9",
        }[kind]
        raw.append(line + ends[i].encode())
        if kind == "json":
            values.append([i])
        elif kind != "blank":
            bad_lines.append(len(raw))
    data = b"".join(raw)
    path = write(folder / "in.jsonl", data)
    seen: list[hp.DataError] = []
    assert hp.read_jsonl(path, on_error=seen.append).to_list() == values
    assert [e.line for e in seen] == bad_lines
    seen.clear()
    assert via_stdin(data, lambda p: hp.read_jsonl(p, on_error=seen.append)) == values
    assert [e.line for e in seen] == bad_lines


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.lists(
        st.tuples(
            st.text(alphabet="ab\r\n", max_size=5),  # a quoted field: may hold any line end
            st.sampled_from(["\n", "\r\n", "\r"]),  # what ends the record
            st.booleans(),  # an undecodable line after it (when it ends a line)
        ),
        max_size=15,
    ),
    pad=st.booleans(),
)
def test_read_csv_names_the_line_each_record_starts_on(
    tmp_path: Path, records: list[tuple[str, str, bool]], pad: bool
) -> None:
    folder = numbered_folder(tmp_path)
    text = ""
    if pad:  # one record over many lines, longer than a block
        text += '-1,"' + ("x" * 98 + "\n") * PAD_LINES + '"\n'
    starts: dict[str, int] = {}  # the first field of each record: the line it starts on
    expected_rows = []
    bad_lines = []
    raw = b""
    for i, (field, end, bad) in enumerate(records):
        starts[str(i)] = (raw + text.encode()).count(b"\n") + 1
        record = f'{i},"{field}"{end}'
        text += record
        expected_rows.append((str(i), field))
        if bad and end != "\r":
            raw += text.encode() + b"caf\xe9\n"
            bad_lines.append(raw.count(b"\n"))
            text = ""
    data = raw + text.encode()
    path = write(folder / "in.csv", data)

    def rows(p: str) -> hp.Stream[Any]:
        return hp.read_csv(p, header=False, on_error="skip").filter(lambda r: r[0] != "-1")

    def lines(p: str, seen: list[hp.DataError]) -> hp.Stream[Any]:
        return hp.read_csv(p, header=False, types={0: reject}, on_error=seen.append)

    assert rows(str(path)).to_list() == expected_rows
    assert via_stdin(data, rows) == expected_rows
    seen: list[hp.DataError] = []
    lines(str(path), seen).run()
    seen_stdin: list[hp.DataError] = []
    via_stdin(data, lambda p: lines(p, seen_stdin))
    for errors in (seen, seen_stdin):
        undecodable = [e.line for e in errors if isinstance(e.raw, bytes)]
        numbered = {str(e.raw).split(",")[0]: e.line for e in errors if isinstance(e.raw, str)}
        numbered.pop("-1", None)  # the padding record
        assert undecodable == bad_lines
        assert numbered == starts
