"""Engines: run a stream somewhere else than in this process, with the same answer.

``engine=hp.engines.Dask(...)`` on a terminal (``run``, ``to``, ``to_list``, ``count``,
``sum``, ``reduce``, ``for_each``) runs the stream's partitions on a Dask cluster (extra
``dask``: ``pip install 'hosepipe[dask]'``). See ``docs/guide/dask.md``.
"""

from hosepipe.engines._dask import Dask as Dask

__all__ = ["Dask"]
