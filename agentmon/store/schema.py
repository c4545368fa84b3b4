"""The database schema, as sqlite-utils migrations: each runs once, in order, in a transaction."""

from __future__ import annotations

import sqlite3

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("agentmon")

# Migrations are history: they name their columns literally, never from code that evolves.
M001_COUNTERS = (
    "ended",
    "successes",
    "failures",
    "abandoned",
    "autonomous",
    "cost_nanos",
    "llm_calls",
    "unpriced_llm_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "tasks_seen",
    "escalated_tasks",
    "tool_calls",
    "tool_errors",
    "confirmations",
    "rejections",
)
M001_TASK_FIELDS = (
    "agent",
    "task",
    "key",
    "model",
    "model_rank",
    "model_ts",
    "first_ts",
    "last_ts",
    "end_ts",
    "outcome",
    "reason",
    "cost_nanos",
    "llm_calls",
    "unpriced_llm_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "tool_calls",
    "tool_errors",
    "escalations",
    "first_escalation_ts",
    "escalation_reason",
    "escalation_reason_ts",
    "confirmations",
    "rejections",
    "rejected_action",
    "rejected_ts",
    "interventions",
)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply what is pending; then record the count in `user_version`, which Store checks first so
    that an up-to-date database opens without importing this module."""
    # No sqlite-utils plugins: looking for them reads every installed package's entry points (18 ms).
    migrations.apply(sqlite_utils.Database(conn, execute_plugins=False))
    conn.execute(f"PRAGMA user_version = {len(migrations._migrations)}")


def _script(db: sqlite_utils.Database, sql: str) -> None:
    """Run these statements inside the migration's transaction. sqlite-utils' executescript finds
    where each statement ends one character at a time (~20 ms for a new database); these scripts
    are plain DDL with no `;` in a literal, so they split at semicolons."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    counters = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in M001_COUNTERS)
    _script(
        db,
        f"""
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
            {", ".join(M001_TASK_FIELDS)}, PRIMARY KEY (agent, task)
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
        INSERT INTO ingest_totals (id, lines, quarantined) VALUES (1, 0, 0);
    """,
    )


@migrations()
def m002_live_monitor(db: sqlite_utils.Database) -> None:
    """What the live monitor shows besides the aggregates: the last event of each agent, the last
    ingest error, and indexes for the latest escalated and rejected tasks."""
    _script(
        db,
        """
        CREATE TABLE agents (agent TEXT PRIMARY KEY, first_ts REAL, last_ts REAL) WITHOUT ROWID;
        INSERT INTO agents (agent, first_ts, last_ts)
            SELECT agent, min(first_ts), max(last_ts) FROM tasks GROUP BY agent;
        ALTER TABLE ingest_totals ADD COLUMN last_error TEXT;
        ALTER TABLE ingest_totals ADD COLUMN last_error_at REAL;
        CREATE INDEX tasks_escalated ON tasks (agent, escalation_reason_ts) WHERE escalations > 0;
        CREATE INDEX tasks_rejected ON tasks (agent, rejected_ts) WHERE rejections > 0;
        CREATE INDEX tasks_failed ON tasks (agent, end_ts) WHERE outcome IN ('failure', 'abandoned');
    """,
    )


@migrations()
def m003_unlabeled_and_requests(db: sqlite_utils.Database) -> None:
    """Tasks that ended with an unknown outcome (Claude Code transcripts carry none), and the
    LLM requests seen so far, so a request logged more than once counts once."""
    for table in ("agg_total", "agg_hour", "agg_minute"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN unlabeled INTEGER NOT NULL DEFAULT 0")
    _script(
        db,
        """
        CREATE TABLE llm_requests (
            request_id TEXT PRIMARY KEY, agent TEXT, task TEXT, ts REAL,
            input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,
            cache_write_tokens INTEGER, cost_nanos INTEGER, priced INTEGER) WITHOUT ROWID;
    """,
    )


@migrations()
def m004_formats_and_prompts(db: sqlite_utils.Database) -> None:
    """Each file's format, found from its first line; and the human prompts of Claude Code
    sessions, which decide the task of every later line of the session."""
    _script(
        db,
        """
        ALTER TABLE files ADD COLUMN format TEXT;
        CREATE TABLE session_prompts (session TEXT, ts REAL, task TEXT, PRIMARY KEY (session, ts, task))
            WITHOUT ROWID;
    """,
    )


@migrations()
def m005_opentelemetry(db: sqlite_utils.Database) -> None:
    """OpenTelemetry: the spans and log records already counted (a retried export counts once),
    the agent of each trace, and the events of traces whose agent is not known yet."""
    _script(
        db,
        """
        CREATE TABLE otel_seen (key TEXT PRIMARY KEY, at REAL) WITHOUT ROWID;
        CREATE TABLE otel_traces (trace_id TEXT PRIMARY KEY, agent TEXT) WITHOUT ROWID;
        CREATE TABLE otel_pending (trace_id TEXT, event BLOB);
        CREATE INDEX otel_pending_by_trace ON otel_pending (trace_id);
    """,
    )


@migrations()
def m006_api_errors(db: sqlite_utils.Database) -> None:
    """API errors the agents hit: a leading signal."""
    for table in ("agg_total", "agg_hour", "agg_minute"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN api_errors INTEGER NOT NULL DEFAULT 0")


@migrations()
def m007_one_hour_cache_writes(db: sqlite_utils.Database) -> None:
    """Cache writes kept an hour cost more: a repeated request is repriced with them."""
    db.execute("ALTER TABLE llm_requests ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0")


@migrations()
def m008_success_definitions(db: sqlite_utils.Database) -> None:
    """Successes under stricter definitions, chosen per agent when reading. Tasks that ended before
    this migration count under the plain definition only until their next event."""
    for table in ("agg_total", "agg_hour", "agg_minute"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN successes_no_escalation INTEGER NOT NULL DEFAULT 0")
        db.execute(f"ALTER TABLE {table} ADD COLUMN successes_no_human_step INTEGER NOT NULL DEFAULT 0")


@migrations()
def m009_follow_ups(db: sqlite_utils.Database) -> None:
    """Follow-ups: a new task with the same key soon after a task ended (the customer came back)."""
    db.execute("ALTER TABLE tasks ADD COLUMN follow_up_ts REAL")
    db.execute("CREATE INDEX tasks_by_key ON tasks (agent, key) WHERE key IS NOT NULL")
    for table in ("agg_total", "agg_hour", "agg_minute"):
        for column in ("followed_up", "followed_up_no_escalation", "followed_up_no_human_step"):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")


M010_COUNTERS = (
    *M001_COUNTERS,
    "unlabeled",
    "api_errors",
    "successes_no_escalation",
    "successes_no_human_step",
    "followed_up",
    "followed_up_no_escalation",
    "followed_up_no_human_step",
)


@migrations()
def m010_hosts(db: sqlite_utils.Database) -> None:
    """Remote hosts (ssh:// sources): a file is known by host and inode; a task remembers its host, and
    per-host aggregates (hour and all-time) split an agent's numbers by host. What came before was
    this machine's (host '')."""
    db.execute("ALTER TABLE files ADD COLUMN host TEXT NOT NULL DEFAULT ''")
    db.execute("DROP INDEX files_active_inode")
    db.execute("CREATE UNIQUE INDEX files_active_inode ON files (host, dev, ino) WHERE state = 'active'")
    db.execute("ALTER TABLE tasks ADD COLUMN host TEXT NOT NULL DEFAULT ''")
    counters = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in M010_COUNTERS)
    sums = ", ".join(f"sum({c})" for c in M010_COUNTERS)
    names = ", ".join(M010_COUNTERS)
    _script(
        db,
        f"""
        CREATE TABLE agg_host_hour (bucket INTEGER, agent TEXT, host TEXT, {counters},
            PRIMARY KEY (bucket, agent, host)) WITHOUT ROWID;
        CREATE TABLE agg_host_total (agent TEXT, host TEXT, {counters},
            PRIMARY KEY (agent, host)) WITHOUT ROWID;
        INSERT INTO agg_host_hour (bucket, agent, host, {names})
            SELECT bucket, agent, '', {sums} FROM agg_hour GROUP BY bucket, agent;
        INSERT INTO agg_host_total (agent, host, {names})
            SELECT agent, '', {sums} FROM agg_total GROUP BY agent;
        CREATE TABLE remote_sources (
            source TEXT PRIMARY KEY, host TEXT, connected INTEGER NOT NULL DEFAULT 0, mode TEXT,
            since REAL, caught_up_at REAL, lag_bytes INTEGER, last_error TEXT, last_error_at REAL,
            updated REAL) WITHOUT ROWID;
    """,
    )


@migrations()
def m011_boots(db: sqlite_utils.Database) -> None:
    """The boot id each source's host last reported, and when (agentmon.ingest.boot); files by device and
    inode: together they find one file read under two host names, so that it counts once."""
    _script(
        db,
        """
        CREATE TABLE boots (host TEXT PRIMARY KEY, boot_id TEXT NOT NULL, seen REAL NOT NULL) WITHOUT ROWID;
        CREATE INDEX files_by_inode ON files (dev, ino) WHERE state = 'active';
    """,
    )


@migrations()
def m012_pending_since(db: sqlite_utils.Database) -> None:
    """When each waiting span arrived: a trace that never gets its invoke_agent span is let go after the
    idle timeout, as a task of its service (agentmon.store.otel_traces). Those waiting from before go at once."""
    db.execute("ALTER TABLE otel_pending ADD COLUMN at REAL NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX otel_pending_by_time ON otel_pending (at)")


@migrations()
def m013_reasoning_tokens(db: sqlite_utils.Database) -> None:
    """Reasoning tokens, a part of the output tokens: per task and in the aggregates beside them."""
    db.execute("ALTER TABLE tasks ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0")
    for table in ("agg_total", "agg_hour", "agg_minute", "agg_host_hour", "agg_host_total"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0")


@migrations()
def m014_ratings(db: sqlite_utils.Database) -> None:
    """A user's latest rating of a task (Claude Code's session survey), and when it was given."""
    db.execute("ALTER TABLE tasks ADD COLUMN rating TEXT")
    db.execute("ALTER TABLE tasks ADD COLUMN rating_ts REAL")


@migrations()
def m015_waiting_documents(db: sqlite_utils.Database) -> None:
    """The eval logs an ingester found still being written, not read yet (agentmon.ingest.documents): `status`
    lists them, so a gate run too early says why its results are missing."""
    db.execute(
        "CREATE TABLE waiting_documents (host TEXT NOT NULL, path TEXT NOT NULL, since REAL NOT NULL,"
        " reason TEXT NOT NULL, PRIMARY KEY (host, path)) WITHOUT ROWID"
    )


@migrations()
def m016_labels_and_denials(db: sqlite_utils.Database) -> None:
    """When a task was labelled (its end stays its own), and the permission denials of each task."""
    db.execute("ALTER TABLE tasks ADD COLUMN labeled_at REAL")
    db.execute("ALTER TABLE tasks ADD COLUMN permission_denials INTEGER NOT NULL DEFAULT 0")


M017_AGGREGATES = ("agg_total", "agg_hour", "agg_minute", "agg_host_hour", "agg_host_total")
M017_UNLABELED_KEYS = {  # table -> its key columns, as computed from a task row
    "agg_minute": {"bucket": "CAST(end_ts / 60 AS INTEGER) * 60", "agent": "agent", "model": "coalesce(model, '')"},
    "agg_hour": {"bucket": "CAST(end_ts / 3600 AS INTEGER) * 3600", "agent": "agent", "model": "coalesce(model, '')"},
    "agg_total": {"agent": "agent", "model": "coalesce(model, '')"},
    "agg_host_hour": {"bucket": "CAST(end_ts / 3600 AS INTEGER) * 3600", "agent": "agent", "host": "host"},
    "agg_host_total": {"agent": "agent", "host": "host"},
}


@migrations()
def m017_denials_retries_and_spend(db: sqlite_utils.Database) -> None:
    """Permission denials, retried API attempts and LLM requests by their own time; the cost and unpriced
    calls of the tasks that ended unknown (cost per success over labelled tasks); each task's failed API
    requests, and the end its logs gave while its outcome reads "failed on the API".

    Requests before this counted at their task's end (the aggregates held no other time for them), and the
    unknown tasks' cost is summed from the tasks once."""
    for column in (
        "api_errors INTEGER NOT NULL DEFAULT 0",
        "api_failed INTEGER NOT NULL DEFAULT 0",
        "logged_reason TEXT",
    ):
        db.execute(f"ALTER TABLE tasks ADD COLUMN {column}")
    for table in M017_AGGREGATES:
        for column in (
            "permission_denials",
            "api_retries",
            "requests",
            "unlabeled_cost_nanos",
            "unlabeled_unpriced_llm_calls",
        ):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
        db.execute(f"UPDATE {table} SET requests = llm_calls")
        keys = M017_UNLABELED_KEYS[table]
        match = " AND ".join(f"{table}.{k} = u.{k}" for k in keys)
        db.execute(
            f"UPDATE {table} SET unlabeled_cost_nanos = u.cost, unlabeled_unpriced_llm_calls = u.unpriced"
            f" FROM (SELECT {', '.join(f'{v} AS {k}' for k, v in keys.items())}, sum(cost_nanos) AS cost,"
            f" sum(unpriced_llm_calls) AS unpriced FROM tasks WHERE outcome = 'unknown' AND end_ts IS NOT NULL"
            f" GROUP BY {', '.join(keys)}) AS u WHERE {match}"
        )


@migrations()
def m018_prompts_by_task(db: sqlite_utils.Database) -> None:
    """The session of a Claude Code task by its id, for `agentmon tasks` (and its prompt) and `status --by session`:
    without it each lookup read every stored prompt. One index entry per prompt, written once."""
    db.execute("CREATE INDEX session_prompts_by_task ON session_prompts (task)")
