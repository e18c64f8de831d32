"""Inline simple one-expression functions into a fused loop.

A call to a small Python function costs more than the expression it computes: for
``lambda line: line.rsplit(None, 1)[1]`` the call is about a third of the work. When a
stage's function is a plain one-argument ``lambda`` (or a ``def`` whose body is a single
``return``), the fused loop evaluates its expression in place instead of calling it, which
is what a programmer writing the loop by hand would do.

Only functions whose expression means exactly the same in the loop are inlined:

* a ``types.FunctionType`` with one positional parameter, no defaults, no ``*args`` or
  keyword-only parameters, not a generator or coroutine, and not decorated;
* no closure (``__closure__`` is empty), so every other name is a global or builtin, and
  the loop is compiled against that function's own ``__globals__``;
* no nested scope (lambda, comprehension), no ``:=``, no ``yield``/``await``, and no name
  starting with ``_hp_`` (the prefix of the loop's own variables);
* its source is available (``linecache``) and, compiled again, gives the very same bytecode,
  names and constants as the function: so what is inlined is what the function runs.

Anything else is called as usual. Exceptions keep their type; the traceback shows the
inlined expression in the ``<hosepipe fused ...>`` frame instead of the function's frame.
"""

from __future__ import annotations

import types
from collections.abc import Callable

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ast
    from typing import Any

__all__ = ["inline_expression"]

_FLAGS_REJECT = 0x04 | 0x08 | 0x20 | 0x80 | 0x100 | 0x200  # *args **kw generator coroutine...

# code object -> (parameter name, body expression AST) or None when it cannot be inlined.
_found: dict[types.CodeType, tuple[str, ast.expr] | None] = {}
_trees: dict[tuple[str, int], ast.Module | None] = {}


def inline_expression(fn: Callable[..., Any], var: str) -> str | None:
    """The source of *fn*'s body with its parameter renamed to *var*, or None."""
    if type(fn) is not types.FunctionType:
        return None
    code = fn.__code__
    if (
        code.co_argcount != 1
        or code.co_kwonlyargcount
        or code.co_flags & _FLAGS_REJECT
        or code.co_freevars
        or code.co_cellvars
        or fn.__defaults__
        or fn.__kwdefaults__
    ):
        return None
    if code not in _found:
        if len(_found) >= 4096:  # code made at run time (exec) must not pile up
            _found.clear()
            _trees.clear()
        _found[code] = _find(code)
    found = _found[code]
    if found is None:
        return None
    import ast

    param, body = found
    renamed = ast.parse(ast.unparse(body), mode="eval").body  # a copy to rename in
    for node in ast.walk(renamed):
        if isinstance(node, ast.Name) and node.id == param:
            node.id = var
    return f"({ast.unparse(renamed)})"


def _tree(filename: str) -> ast.Module | None:
    import ast
    import linecache

    lines = linecache.getlines(filename)
    if not lines:
        return None
    key = (filename, hash(tuple(lines)))
    if key not in _trees:
        try:
            _trees[key] = ast.parse("".join(lines), filename)
        except (SyntaxError, ValueError):
            _trees[key] = None
    return _trees[key]


def _find(code: types.CodeType) -> tuple[str, ast.expr] | None:
    import ast

    tree = _tree(code.co_filename)
    if tree is None:
        return None
    for node in ast.walk(tree):
        candidate = _candidate(node, code)
        if candidate is None:
            continue
        param, body, compiled = candidate
        if _same(compiled, code) and _plain(body):
            return param, body
    return None


def _candidate(node: ast.AST, code: types.CodeType) -> tuple[str, ast.expr, Any] | None:
    """For a lambda or def at *code*'s line: (parameter, body, its recompiled code)."""
    import ast

    if isinstance(node, ast.Lambda) and code.co_name == "<lambda>":
        if node.lineno != code.co_firstlineno or len(node.args.args) != 1:
            return None
        compiled = compile(ast.Expression(node), code.co_filename, "eval")
        inner = next((c for c in compiled.co_consts if isinstance(c, types.CodeType)), None)
        return node.args.args[0].arg, node.body, inner
    if isinstance(node, ast.FunctionDef) and node.name == code.co_name:
        if node.lineno != code.co_firstlineno or node.decorator_list:
            return None
        if len(node.args.args) != 1:
            return None
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # a docstring
        if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
            return None
        module = ast.Module(body=[node], type_ignores=[])
        compiled = compile(module, code.co_filename, "exec")
        inner = next((c for c in compiled.co_consts if isinstance(c, types.CodeType)), None)
        return node.args.args[0].arg, body[0].value, inner
    return None


def _same(a: types.CodeType | None, b: types.CodeType) -> bool:
    return (
        a is not None
        and a.co_code == b.co_code
        and a.co_names == b.co_names
        and a.co_varnames == b.co_varnames
        and _strict(a.co_consts) == _strict(b.co_consts)
    )


def _strict(consts: tuple[object, ...]) -> tuple[tuple[type, str], ...]:
    """Constants compared by type and repr: 1, 1.0 and True, or 0.0 and -0.0, differ."""
    return tuple((type(c), repr(c)) for c in consts)


def _plain(body: ast.expr) -> bool:
    import ast

    nested: tuple[type[ast.AST], ...] = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp)
    nested += (ast.GeneratorExp, ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await)
    for node in ast.walk(body):
        if isinstance(node, nested):
            return False
        if isinstance(node, ast.Name) and node.id.startswith("_hp_"):
            return False
    return True
