"""A new database is made from one script of the final schema (agentmon.store.schema.FRESH); an existing one is
migrated step by step. Both must end with the same schema, and the script must follow the migrations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from agentmon.store.schema import FRESH, MIGRATION_SET, MIGRATIONS, migrate, migrated_script
from agentmon.store.writer import SCHEMA_VERSION, Store

REGENERATE = "python -m agentmon.store.schema"


def schema(conn: sqlite3.Connection) -> dict[str, object]:
    """Everything that makes a database's schema, its text with the whitespace evened out, and the rows the
    migrations leave (their applied times apart)."""

    def even(sql: str) -> str:
        return " ".join(sql.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split())

    objects = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    out: dict[str, object] = {
        "objects": [(kind, name, table, sql and even(sql)) for kind, name, table, sql in objects],
        "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
    }
    for kind, name, _, _ in objects:
        if kind == "table":
            out[f"columns of {name}"] = conn.execute(f'PRAGMA table_xinfo("{name}")').fetchall()
            out[f"indexes of {name}"] = conn.execute(f'PRAGMA index_list("{name}")').fetchall()
            out[f"table {name}"] = conn.execute(f'PRAGMA table_list("{name}")').fetchall()  # WITHOUT ROWID, strict
            rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
            out[f"rows of {name}"] = [row[:-1] for row in rows] if name == "_sqlite_migrations" else rows
        else:
            out[f"index {name}"] = conn.execute(f'PRAGMA index_xinfo("{name}")').fetchall()
    return out


def migrated(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    return conn


def test_the_new_database_script_follows_the_migrations():
    assert migrated_script() == FRESH, f"the new-database script lags the migrations: run `{REGENERATE}`"


def test_a_new_database_has_the_schema_every_migration_builds(tmp_path):
    Store(tmp_path / "new.db").close()
    new = sqlite3.connect(tmp_path / "new.db")
    assert schema(new) == schema(migrated(tmp_path / "migrated.db"))
    assert new.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    names = [
        name for (name,) in new.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (MIGRATION_SET,))
    ]
    assert names == [fn.__name__ for fn in MIGRATIONS]  # so a later agentmon migrates it from where it is


def test_an_older_database_still_migrates_step_by_step(tmp_path):
    """A database an older agentmon made (the last migration not run yet) gets that migration, not the script."""
    old = migrated(tmp_path / "old.db")
    last = MIGRATIONS[-1].__name__
    assert last == "m024_files_seen"  # undo what it made
    old.execute("ALTER TABLE files DROP COLUMN seen_size")
    old.execute("ALTER TABLE files DROP COLUMN seen_mtime_ns")
    old.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (last,))
    old.execute("INSERT INTO session_prompts VALUES ('s', 1.0, 't')")  # a row the script would never keep
    old.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    old.close()
    Store(tmp_path / "old.db").close()
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("SELECT * FROM session_prompts").fetchall() == [("s", 1.0, "t")]
    conn.execute("DELETE FROM session_prompts")
    assert schema(conn) == schema(migrated(tmp_path / "migrated.db"))


def test_making_a_new_database_does_not_load_the_migrations_library(tmp_path):
    code = (
        "import sys\nfrom agentmon.store.writer import Store\n"
        f"Store({str(tmp_path / 'new.db')!r}).close()\nprint('sqlite_utils' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False"]
