"""Bulk statements the ORM has no fast form for, one statement whatever the number of rows.

PostgreSQL gets COPY for inserts; SQLite gets executemany, a prepared statement run per row
inside one transaction (as fast as SQLite writes). Updates need no helper: apply's are
`UPDATE … FROM` the stored changes (store/apply.py). An import's number of statements
therefore does not grow with its file, and its rows stream through generators, so its memory
does not either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

from django.db import connection

# After writing this many rows into a PostgreSQL table, its planner statistics are refreshed at
# once: the run page is opened right after a large import, before autovacuum gets to it, and
# with stale statistics its queries took seconds instead of milliseconds.
ANALYZE_AFTER_ROWS = 10_000
# That refresh samples 300 × this many rows (3,000), not the default 30,000: enough for the
# planner to see how many rows a run or an organization has, at a tenth of the cost (20 ms,
# not 180–280 ms, at 100,000 rows). Autovacuum refines the figures later at the full size.
QUICK_STATISTICS_TARGET = 10


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def insert_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert `rows` (values in the order of `columns`) into `table` in one statement.

    Values must already be in the database's form (see `prepare`); `rows` may be a generator.
    """
    names = ", ".join(_quote(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY is a single statement: the rows stream to the server as they are made.
            sql = f"COPY {_quote(table)} ({names}) FROM STDIN"
            count = 0
            with _logged(cursor, sql), cursor.cursor.copy(sql) as copy:
                for count, row in enumerate(rows, start=1):  # noqa: B007 (read after the loop)
                    copy.write_row(row)
            if count >= ANALYZE_AFTER_ROWS:
                refresh_statistics(cursor, table)
        else:
            marks = ", ".join(["%s"] * len(columns))
            _executemany(cursor, f"INSERT INTO {_quote(table)} ({names}) VALUES ({marks})", rows)


@contextmanager
def sqlite_page_cache(kib: int) -> Iterator[None]:
    """On SQLite, give the connection a page cache of `kib` KiB for the block (for writes of
    many rows into indexes in no order), then its own size back. PostgreSQL's buffers are the
    server's: nothing changes there."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {before}")


def refresh_statistics(cursor, table: str) -> None:
    """Give PostgreSQL's planner quick statistics of `table`, which has just grown a lot."""
    cursor.execute(f"SET LOCAL default_statistics_target = {QUICK_STATISTICS_TARGET}")
    cursor.execute(f"ANALYZE {_quote(table)}")
    cursor.execute("RESET default_statistics_target")


def _executemany(cursor, sql: str, rows: Iterable[Sequence]) -> None:
    """Run `sql` once per row of `rows`, a generator, without holding the rows in memory."""
    if connection.vendor != "sqlite":
        cursor.executemany(sql, rows)
        return
    # Django's SQLite executemany() peeks at the first row through itertools.tee, and the tee
    # then keeps every row until the end: 100,000 rows would sit in memory at once. Hand the
    # generator to sqlite3 itself, still logged and wrapped like any query Django runs.
    raw = cursor.cursor
    sql = raw.convert_query(sql)
    with _logged(cursor, sql, many=True):
        cursor._execute_with_wrappers(
            sql,
            rows,
            True,
            lambda sql, rows, _many, _context: sqlite3.Cursor.executemany(raw, sql, rows),
        )


def _logged(cursor, sql: str, *, many: bool = False):
    """Return a context that logs `sql` like Django's own queries when it logs them (DEBUG)."""
    return cursor.debug_sql(sql, many=many) if hasattr(cursor, "debug_sql") else nullcontext()


def prepare(model, values: dict) -> dict:
    """Return field values in the form the database takes them (dates as text on SQLite…)."""
    fields = {field.attname: field for field in model._meta.concrete_fields}
    return {
        name: fields[name].get_db_prep_save(value, connection) for name, value in values.items()
    }


def reserve_ids(model, count: int) -> list[int]:
    """Return `count` new primary keys for `model`, which no insert will ever be given.

    PostgreSQL draws them from the table's sequence. SQLite hands out the ids after both the
    largest id and the AUTOINCREMENT counter, and moves the counter past them: AUTOINCREMENT
    never gives an id at or below it. Call it inside the transaction that stores the ids (on
    SQLite an IMMEDIATE one, which keeps other writers out until it commits).
    """
    if not count:
        return []
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Usually the ids drawn are consecutive, and only the first and last come back;
            # when another session drew some meanwhile, the whole list does.
            # The sequence is named first: as a constant, nextval() finds it once, not per row.
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, pk])
            sequence = cursor.fetchone()[0]
            cursor.execute(
                "WITH drawn AS (SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s)) "
                "SELECT MIN(id), MAX(id), CASE WHEN MAX(id) - MIN(id) + 1 = COUNT(*) THEN NULL "
                "ELSE array_agg(id) END FROM drawn",
                [sequence, count],
            )
            first, last, scattered = cursor.fetchone()
            return list(scattered) if scattered else list(range(first, last + 1))
        cursor.execute(
            f"SELECT MAX(top) FROM (SELECT MAX({_quote(pk)}) AS top FROM {_quote(table)} "
            "UNION ALL SELECT seq FROM sqlite_sequence WHERE name = %s)",
            [table],
        )
        start = (cursor.fetchone()[0] or 0) + 1
        last = start + count - 1
        # The table's entry exists once it has had a row; sqlite_sequence has no unique key.
        cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [last, table])
        cursor.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT %s, %s "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = %s)",
            [table, last, table],
        )
    return list(range(start, last + 1))
