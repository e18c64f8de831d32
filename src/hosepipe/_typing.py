"""The typing names hosepipe needs at run time, without importing ``typing``.

``typing`` (with the ``re`` and ``enum`` it loads) adds about 1.7 MB to a process, and
hosepipe needs it only for type checkers: with ``from __future__ import annotations`` every
annotation is a string. What runs are class statements such as ``class Stream(Generic[T])``
and ``@overload`` decorators. Type checkers see ``typing``'s own names here; at run time
these light stand-ins take their place:

* ``Generic`` and ``Protocol`` can be subscripted: as a base they give themselves, and a
  subclass subscripted by a user (``hp.Stream[int]``) gives a ``types.GenericAlias``;
* ``TypeVar(name, ...)`` returns the name;
* ``overload`` returns its function (the implementation defined last replaces it);
* ``Any`` is ``object``, for base classes such as ``Reader[Any]``.

Annotation-only names (``Any``, ``Literal``, ...) are imported from ``typing`` under
``if TYPE_CHECKING:`` in each module.

>>> import hosepipe as hp
>>> hp.Stream[int]
hosepipe.Stream[int]
"""

from __future__ import annotations

import types

__all__ = ["TYPE_CHECKING", "Any", "Generic", "Protocol", "TypeVar", "overload"]

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any as Any
    from typing import Generic as Generic
    from typing import Protocol as Protocol
    from typing import TypeVar as TypeVar
    from typing import overload as overload
else:
    Any = object  # only ever a subscript of a base class at run time

    class Generic:
        """Run-time stand-in for ``typing.Generic``."""

        __slots__ = ()

        def __class_getitem__(cls, params):
            if cls is Generic or cls is Protocol:
                return cls
            return types.GenericAlias(cls, params)

    class Protocol(Generic):
        """Run-time stand-in for ``typing.Protocol`` (no run-time checks)."""

        __slots__ = ()

    def TypeVar(name, *constraints, **options):
        """Run-time stand-in for ``typing.TypeVar``: the name is all that is kept."""
        return name

    def overload(fn):
        """Run-time stand-in for ``typing.overload``."""
        return fn
