"""Alembic migrations of the registry schema (run by :mod:`modelphase.registry.store`)."""
