"""Optional integrations: import them when used, and say which extra installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """An optional integration was used without its extra installed.

    >>> require("not_installed", "nothing", "a doctest")
    Traceback (most recent call last):
    ...
    hosepipe._extras.MissingExtraError: a doctest needs the not_installed package: ...
    """


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import *module* for *what*, or raise naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        package = module.split(".")[0]
        raise MissingExtraError(
            f"{what} needs the {package} package: pip install 'hosepipe[{extra}]'"
        ) from e
