"""The database of a bench script that runs on its own (bench/dispatcher.py, bench/fairness.py):
a SQLite file in its folder, or a PostgreSQL database of its own, made afresh and dropped."""

from __future__ import annotations

import sys
from pathlib import Path


def fresh_database(args, sqlite_file: Path) -> str:
    """Return the URL of an empty database for the `--engine`, `--pg-url`, `--pg-database` of
    `args`: `sqlite_file`, or the PostgreSQL database dropped and made again."""
    if args.engine == "sqlite":
        return f"sqlite:///{sqlite_file}"
    drop_database(args)
    _admin(args, f'CREATE DATABASE "{args.pg_database}"')
    return f"{args.pg_url.rstrip('/')}/{args.pg_database}"


def drop_database(args) -> None:
    """Drop the script's PostgreSQL database (a SQLite file goes with its folder)."""
    if args.engine == "postgresql":
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        _admin(args, f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)')


def _admin(args, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{args.pg_url.rstrip('/')}/postgres", autocommit=True) as connection:
        connection.execute(sql)
