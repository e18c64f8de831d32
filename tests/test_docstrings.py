"""The examples in the docstrings of the public classes' methods run.

``hosepipe/__init__.py`` sets ``__module__ = "hosepipe"`` on its exports so reprs and docs
show ``hosepipe.Stream``; pytest's doctest collection then sees the classes in
``hosepipe/__init__.py`` but skips their methods, whose globals are those of the module
that defines them. This test finds those methods' examples and runs each in its own
module's globals, as ``--doctest-modules`` would.
"""

from __future__ import annotations

import doctest
import inspect

import pytest

import hosepipe as hp

_CLASSES = [
    obj
    for name in hp.__all__
    if inspect.isclass(obj := getattr(hp, name)) and obj.__module__ == "hosepipe"
]


def _method_tests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    found = []
    for cls in _CLASSES:
        for klass in cls.__mro__:
            if klass.__module__ != "hosepipe":
                continue  # a private base (Terminals): --doctest-modules runs its examples
            for attr, value in vars(klass).items():
                fn = getattr(value, "__func__", value)
                fn = getattr(fn, "fget", fn)  # properties
                globs = getattr(fn, "__globals__", None)
                if globs is None or (attr.startswith("_") and attr != "__init__"):
                    continue
                for test in finder.find(fn, f"{cls.__name__}.{attr}", globs=globs):
                    if test.examples:
                        found.append(test)
    unique = {t.name: t for t in found}
    return [unique[k] for k in sorted(unique)]


_TESTS = _method_tests()


def test_public_methods_have_examples() -> None:
    names = {t.name for t in _TESTS}
    assert {"Stream.map", "Stream.batch", "Stream.broadcast", "RunStats.to_dict"} <= names


@pytest.mark.parametrize("test", _TESTS, ids=[t.name for t in _TESTS])
def test_method_example(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    test.globs = dict(test.globs)
    out: list[str] = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
