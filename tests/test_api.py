"""The public face: exports, the two spellings of every operator, docstrings with examples."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import pytest

import hosepipe as hp

OPERATORS = [
    "map", "filter", "flat_map", "flatten", "tap", "take", "skip", "take_while", "drop_while",
    "batch", "window", "group_by", "distinct", "enumerate", "scan", "chain", "zip", "catch",
    "buffer", "throttle", "retry",
    "observe", "progress",
]  # fmt: skip
TERMINALS = ["to_list", "first", "reduce", "count", "sum", "for_each", "to", "run"]
ASYNC_TERMINALS = ["ato_list", "afirst", "areduce", "acount", "afor_each", "arun", "ato"]


def test_all_lists_each_public_name_once_and_sorted() -> None:
    public = sorted(
        name
        for name in dir(hp)
        if not name.startswith("_") and not isinstance(getattr(hp, name), types.ModuleType)
    )
    modules = ["backoff", "engines"]  # public submodules listed in __all__
    assert sorted(set(hp.__all__) - set(modules)) == public
    assert all(isinstance(getattr(hp, m), types.ModuleType) for m in modules)
    assert len(set(hp.__all__)) == len(hp.__all__)


def test_integrations_load_on_first_use() -> None:
    code = (
        "import sys, hosepipe as hp\n"
        "heavy = ['hosepipe.sources._files', 'hosepipe.sinks._sql', 'hosepipe.http', 'typing']\n"
        "assert not [m for m in heavy if m in sys.modules], sys.modules.keys()\n"
        "from hosepipe import read_csv\n"
        "assert 'hosepipe.sources._files' in sys.modules and hp.read_csv is read_csv\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_public_classes_show_the_public_module() -> None:
    for name in hp.__all__:
        value = getattr(hp, name)
        if isinstance(value, type) or name in dir(hp.Stream):  # classes, core operators
            assert value.__module__ == "hosepipe", name
    assert repr(hp.Stream) == "<class 'hosepipe.Stream'>"


@pytest.mark.parametrize("name", OPERATORS)
def test_every_operator_has_both_spellings_with_the_same_parameters(name: str) -> None:
    factory = getattr(hp, name)
    for cls in (hp.Stream, hp.Pipeline):
        method = getattr(cls, name)
        params = list(inspect.signature(method).parameters.values())[1:]  # drop self
        assert params == list(inspect.signature(factory).parameters.values()), (cls, name)


def test_no_operator_is_missing_from_either_spelling() -> None:
    stream_ops = {n for n in vars(hp.Stream) if not n.startswith("_")} - set(TERMINALS)
    stream_ops -= {"pipe", "iterate", "aiterate", "into", *ASYNC_TERMINALS}
    stream_ops -= {"broadcast"}  # broadcast gives streams, not one
    stream_ops -= {"stats"}  # the latest run's counters
    assert stream_ops == set(OPERATORS)
    pipeline_ops = {n for n in vars(hp.Pipeline) if not n.startswith("_")} - {"as_target"}
    assert pipeline_ops == set(OPERATORS)


@pytest.mark.parametrize("name", OPERATORS)
def test_factory_and_method_build_equal_pipelines(name: str) -> None:
    args: dict[str, tuple[object, ...]] = {
        "take": (2,), "skip": (1,), "batch": (2,), "window": (2,), "enumerate": (1,),
        "buffer": (2,), "observe": ("x",), "scan": (max, ""), "chain": ([9],), "zip": ([7, 8, 9],),
        "catch": (ValueError,), "flatten": (), "distinct": (), "throttle": (1000,),
        "retry": (ValueError,), "progress": (),
    }  # fmt: skip
    a = args.get(name, (str,))
    assert getattr(hp, name)(*a) == getattr(hp.Pipeline(), name)(*a) or name in {"chain", "zip"}
    src = [[1, 2], [3]] if name == "flatten" else ["a", "b", "c"]
    if name == "retry":  # it changes the stage before it
        piped = src | hp.map(str.upper) | hp.retry(*a)
        assert list(piped) == hp.Stream(src).map(str.upper).retry(*a).to_list() == ["A", "B", "C"]
        assert repr(piped) == repr(hp.Stream(src).map(str.upper).retry(*a))
        return
    if name in {"map", "filter", "flat_map", "tap", "take_while", "drop_while", "group_by"}:
        a = (str.upper,) if name != "filter" else (str.isalpha,)
    assert list(src | getattr(hp, name)(*a)) == getattr(hp.Stream(src), name)(*a).to_list()


def _public_functions() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in hp.__all__:
        obj = getattr(hp, name)
        if inspect.isfunction(obj):
            found.append((name, obj))
    for name in OPERATORS + TERMINALS + ASYNC_TERMINALS + ["pipe", "iterate", "aiterate"]:
        found.append((f"Stream.{name}", getattr(hp.Stream, name)))
    return found


@pytest.mark.parametrize(("name", "fn"), _public_functions())
def test_public_functions_have_a_docstring_with_an_example(name: str, fn: object) -> None:
    doc = inspect.getdoc(fn) or ""
    assert doc.split("\n")[0].strip(), f"{name} has no one-line summary"
    assert ">>>" in doc, f"{name} has no example"
