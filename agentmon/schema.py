"""The database schema, as sqlite-utils migrations: each runs once, in order, in a transaction."""

from __future__ import annotations

import sqlite3

import sqlite_utils
from sqlite_utils.migrations import Migrations

from agentmon.taskstate import AGG_COLUMNS, TASK_FIELDS

migrations = Migrations("agentmon")


def migrate(conn: sqlite3.Connection) -> None:
    migrations.apply(sqlite_utils.Database(conn))


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    counters = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in AGG_COLUMNS)
    db.executescript(f"""
        CREATE TABLE files (
            id INTEGER PRIMARY KEY, path TEXT NOT NULL, dev INTEGER, ino INTEGER,
            fp_len INTEGER NOT NULL DEFAULT 0, fp_hash TEXT NOT NULL DEFAULT '',
            offset INTEGER NOT NULL DEFAULT 0, marker TEXT NOT NULL DEFAULT '',
            skipping INTEGER NOT NULL DEFAULT 0,
            lines INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'active', updated REAL
        );
        CREATE UNIQUE INDEX files_active_inode ON files (dev, ino) WHERE state = 'active';
        CREATE TABLE tasks (
            {", ".join(TASK_FIELDS)}, PRIMARY KEY (agent, task)
        ) WITHOUT ROWID;
        CREATE INDEX tasks_by_end ON tasks (agent, end_ts);
        CREATE TABLE agg_total (agent TEXT, model TEXT, {counters},
            PRIMARY KEY (agent, model)) WITHOUT ROWID;
        CREATE TABLE agg_hour (bucket INTEGER, agent TEXT, model TEXT, {counters},
            PRIMARY KEY (bucket, agent, model)) WITHOUT ROWID;
        CREATE TABLE agg_minute (bucket INTEGER, agent TEXT, model TEXT, {counters},
            PRIMARY KEY (bucket, agent, model)) WITHOUT ROWID;
        CREATE TABLE eval_results (
            agent TEXT, suite TEXT, run TEXT, "case" TEXT, passed INTEGER, ts REAL,
            critical INTEGER, agent_version TEXT,
            PRIMARY KEY (agent, suite, run, "case")) WITHOUT ROWID;
        CREATE TABLE eval_runs (
            agent TEXT, suite TEXT, run TEXT, newest_ts REAL, cases INTEGER, passed INTEGER,
            critical_failed INTEGER, agent_version TEXT,
            PRIMARY KEY (agent, suite, run)) WITHOUT ROWID;
        CREATE INDEX eval_runs_latest ON eval_runs (agent, suite, newest_ts);
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY, file_id INTEGER, path TEXT, offset INTEGER,
            reason TEXT, excerpt TEXT, at REAL);
        CREATE TABLE ingest_totals (id INTEGER PRIMARY KEY CHECK (id = 1),
            lines INTEGER NOT NULL, quarantined INTEGER NOT NULL);
        INSERT INTO ingest_totals VALUES (1, 0, 0);
    """)


@migrations()
def m002_live_monitor(db: sqlite_utils.Database) -> None:
    """What the live monitor shows besides the aggregates: the last event of each agent, the last
    ingest error, and indexes for the latest escalated and rejected tasks."""
    db.executescript("""
        CREATE TABLE agents (agent TEXT PRIMARY KEY, first_ts REAL, last_ts REAL) WITHOUT ROWID;
        INSERT INTO agents SELECT agent, min(first_ts), max(last_ts) FROM tasks GROUP BY agent;
        ALTER TABLE ingest_totals ADD COLUMN last_error TEXT;
        ALTER TABLE ingest_totals ADD COLUMN last_error_at REAL;
        CREATE INDEX tasks_escalated ON tasks (agent, escalation_reason_ts) WHERE escalations > 0;
        CREATE INDEX tasks_rejected ON tasks (agent, rejected_ts) WHERE rejections > 0;
        CREATE INDEX tasks_failed ON tasks (agent, end_ts) WHERE outcome IN ('failure', 'abandoned');
    """)
