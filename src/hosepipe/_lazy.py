"""Names a package exports but imports on first use (PEP 562), keeping ``import`` light."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, namespace: dict[str, Any], names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` that import ``names[name]`` when asked.

    A name mapped to its own module path (``"http": "hosepipe.http"``) is the module itself;
    any other is the attribute of that name in its module. The value is cached in
    *namespace*, so each import happens once.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(module)
        value = loaded if module == f"{package}.{name}" else getattr(loaded, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
