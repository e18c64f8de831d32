"""Sources: where streams start (files, paged APIs, databases). Also exported as ``hp.<name>``."""

from hosepipe.sources._base import Reader as Reader
from hosepipe.sources._paginate import paginate as paginate

__all__ = ["Reader", "paginate"]
