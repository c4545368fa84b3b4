"""Small SQLite helpers shared by the store's parts."""

from __future__ import annotations

import sqlite3


def in_chunks(conn: sqlite3.Connection, sql: str, values: list, params: tuple = ()) -> list[tuple]:
    """Run `sql` (its other `?` bound to `params`, first), whose `IN ({})` takes `values`, 500 values
    at a time; the rows it returns."""
    rows = []
    for i in range(0, len(values), 500):
        part = values[i : i + 500]
        rows += conn.execute(sql.format(", ".join("?" * len(part))), (*params, *part)).fetchall()
    return rows
