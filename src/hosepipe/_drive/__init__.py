"""Drivers: they turn inert stage nodes into running iterators (sync for now)."""
