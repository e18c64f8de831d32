"""Code generation for the async driver: one async generator for a run of element-wise
stages (map, filter, tap, observe, catch), plain or ``async def``.

The sync driver's fused loops (``_fuse``) are more elaborate (steps, terminals, inlining);
an async layer pays an ``await`` per async stage anyway, so it only saves the per-stage
generator and its counting.
"""

from __future__ import annotations

from collections.abc import Callable

from hosepipe._errors import stop_iteration_error
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["fused_factory"]

_FUSED_CACHE: dict[tuple[tuple[tuple[str, bool], ...], bool], Callable[..., Any]] = {}


def fused_factory(ops: tuple[tuple[str, bool], ...], reads_source: bool) -> Callable[..., Any]:
    """Compile a function making an async generator that runs *ops* ((op, is_async) pairs)
    per item, and a function returning its counts so far.

    The generated layer counts the items it reads (``n``) and, per stage, the items that
    stage dropped or a ``catch`` skipped (``d<j>``); ``set_counts`` turns them into each
    stage's in/out when the layer ends. The counters are closure cells, shared with the
    ``counts`` function that ``Run.stats()`` calls while the layer runs (a cell costs about
    what a local does, so live counts cost nothing per item); a layer with awaits also
    keeps in ``at`` the stage whose await the current item is in (-1: none), so a slow
    ``async def`` stage does not show its item as passed before it is. A failing call
    goes to ``fail`` (skip, or note and raise) with the item's index at that stage; an
    error from the source itself gets the source note.
    """
    key = (ops, reads_source)
    if key in _FUSED_CACHE:
        return _FUSED_CACHE[key]
    k = len(ops)
    awaits = any(is_async for _, is_async in ops)
    drops = ", ".join(f"d{j}" for j in range(k)) + ("," if k == 1 else "")
    cells = ", ".join(["n", "failed", *(f"d{j}" for j in range(k)), *(["at"] if awaits else [])])
    # what runs before the next item is read: after a skip, or the yield
    between = (["at = -1"] if awaits else []) + (["reading = True"] if reads_source else [])
    lines = [
        "def make(up, fns, positions, fail, note_source, set_counts):",
        "    n = 0",
        "    failed = -1",
        *(f"    d{j} = 0" for j in range(k)),
        *(["    at = -1"] if awaits else []),
        "    def counts():",
        f"        return n, ({drops}), failed, {'at' if awaits else '-1'}",
        "    async def layer():",
        f"        nonlocal {cells}",
        f"        {', '.join(f'f{j}' for j in range(k))}{',' if k == 1 else ''} = fns",
        f"        {', '.join(f'p{j}' for j in range(k))}{',' if k == 1 else ''} = positions",
        *(["        reading = True"] if reads_source else []),
        "        try:",
        "            try:",
        "                async for x in up:",
        *(["                    reading = False"] if reads_source else []),
        "                    n += 1",
    ]
    for j, (op, is_async) in enumerate(ops):
        if op in ("observe", "catch"):
            continue
        call = f"{'await ' if is_async else ''}f{j}(x)"
        index = "n - 1" + "".join(f" - d{i}" for i in range(j))
        body = {
            "map": [f"x = {call}"],
            "filter": [
                f"if not {call}:",
                f"    d{j} += 1",
                *(f"    {b}" for b in between),
                "    continue",
            ],
            "tap": [call],
        }[op]
        if is_async:
            lines.append(f"                    at = {j}")
        lines.append("                    try:")
        lines += [f"                        {b}" for b in body]
        lines += [
            "                    except Exception as e:",
            f"                        if fail(p{j}, e, x, {index}):",
            f"                            d{j} += 1",
            *(f"                            {b}" for b in between),
            "                            continue",
            f"                        failed = {j}",
            # (a generator cannot let one out: it would be PEP 479's un-noted error)
            "                        if isinstance(e, StopIteration):",
            "                            raise stop_error(e) from e",
            "                        raise",
        ]
    lines += [
        *(["                    at = -1"] if awaits else []),
        "                    yield x",
        *(["                    reading = True"] if reads_source else []),
        "            except Exception as e:",
        # only an error from reading the source itself gets the source note
        *(
            ["                if reading:", "                    note_source(e, n)"]
            if reads_source
            else []
        ),
        "                raise",
        "        finally:",
        *(["            at = -1"] if awaits else []),
        f"            set_counts(n, ({drops}), failed)",
        "    return layer(), counts",
    ]
    namespace: dict[str, Any] = {"stop_error": stop_iteration_error}
    exec(compile("\n".join(lines), f"<hosepipe async layer {ops}>", "exec"), namespace)
    made = namespace["make"]
    if len(_FUSED_CACHE) > 256:
        _FUSED_CACHE.clear()
    _FUSED_CACHE[key] = made
    return made  # type: ignore[no-any-return]
