"""The database schema. A new database is made in one transaction from `FRESH`, the final schema as one script;
an existing one is brought up to date by the migrations below (sqlite-utils), each run once, in order, in a
transaction. `FRESH` is generated from the migrations (`python -m agentmon.store.schema` rewrites it) and
tests/test_schema.py holds the two to the same schema: a change to the schema is a new migration, then that command.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by `migrate` alone: a new database needs none of it (~60 ms)
    import sqlite_utils

Migration = Callable[["sqlite_utils.Database"], None]
MIGRATIONS: list[Migration] = []  # in order; each is recorded by its function's name in _sqlite_migrations
MIGRATION_SET = "agentmon"


def migration(fn: Migration) -> Migration:
    """Register a migration: it runs after those registered before it."""
    MIGRATIONS.append(fn)
    return fn


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


def open_schema(conn: sqlite3.Connection) -> None:
    """Make a new database's schema, or bring an older one's up to date; then `user_version` holds the count of
    migrations, which Store checks first so that an up-to-date database opens without importing this module."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        (empty,) = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM sqlite_master)").fetchone()
        if empty:  # a new database: the final schema at once (plain DDL and values: no `;` inside a literal)
            for statement in FRESH.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if not empty:
        migrate(conn)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations still pending, each in its own transaction; then record their count in `user_version`."""
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for fn in MIGRATIONS:
        migrations()(fn)
    # No sqlite-utils plugins: looking for them reads every installed package's entry points (18 ms).
    migrations.apply(sqlite_utils.Database(conn, execute_plugins=False))
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")


def _script(db: sqlite_utils.Database, sql: str) -> None:
    """Run these statements inside the migration's transaction. sqlite-utils' executescript finds
    where each statement ends one character at a time (~20 ms for a new database); these scripts
    are plain DDL with no `;` in a literal, so they split at semicolons."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


@migration
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


@migration
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


@migration
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


@migration
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


@migration
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


@migration
def m006_api_errors(db: sqlite_utils.Database) -> None:
    """API errors the agents hit: a leading signal."""
    for table in ("agg_total", "agg_hour", "agg_minute"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN api_errors INTEGER NOT NULL DEFAULT 0")


@migration
def m007_one_hour_cache_writes(db: sqlite_utils.Database) -> None:
    """Cache writes kept an hour cost more: a repeated request is repriced with them."""
    db.execute("ALTER TABLE llm_requests ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0")


@migration
def m008_success_definitions(db: sqlite_utils.Database) -> None:
    """Successes under stricter definitions, chosen per agent when reading. Tasks that ended before
    this migration count under the plain definition only until their next event."""
    for table in ("agg_total", "agg_hour", "agg_minute"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN successes_no_escalation INTEGER NOT NULL DEFAULT 0")
        db.execute(f"ALTER TABLE {table} ADD COLUMN successes_no_human_step INTEGER NOT NULL DEFAULT 0")


@migration
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


@migration
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


@migration
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


@migration
def m012_pending_since(db: sqlite_utils.Database) -> None:
    """When each waiting span arrived: a trace that never gets its invoke_agent span is let go after the
    idle timeout, as a task of its service (agentmon.store.otel_traces). Those waiting from before go at once."""
    db.execute("ALTER TABLE otel_pending ADD COLUMN at REAL NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX otel_pending_by_time ON otel_pending (at)")


@migration
def m013_reasoning_tokens(db: sqlite_utils.Database) -> None:
    """Reasoning tokens, a part of the output tokens: per task and in the aggregates beside them."""
    db.execute("ALTER TABLE tasks ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0")
    for table in ("agg_total", "agg_hour", "agg_minute", "agg_host_hour", "agg_host_total"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0")


@migration
def m014_ratings(db: sqlite_utils.Database) -> None:
    """A user's latest rating of a task (Claude Code's session survey), and when it was given."""
    db.execute("ALTER TABLE tasks ADD COLUMN rating TEXT")
    db.execute("ALTER TABLE tasks ADD COLUMN rating_ts REAL")


@migration
def m015_waiting_documents(db: sqlite_utils.Database) -> None:
    """The eval logs an ingester found still being written, not read yet (agentmon.ingest.documents): `status`
    lists them, so a gate run too early says why its results are missing."""
    db.execute(
        "CREATE TABLE waiting_documents (host TEXT NOT NULL, path TEXT NOT NULL, since REAL NOT NULL,"
        " reason TEXT NOT NULL, PRIMARY KEY (host, path)) WITHOUT ROWID"
    )


@migration
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


@migration
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


@migration
def m018_prompts_by_task(db: sqlite_utils.Database) -> None:
    """The session of a Claude Code task by its id, for `agentmon tasks` (and its prompt) and `status --by session`:
    without it each lookup read every stored prompt. One index entry per prompt, written once."""
    db.execute("CREATE INDEX session_prompts_by_task ON session_prompts (task)")


@migration
def m019_retention(db: sqlite_utils.Database) -> None:
    """How far retention has forgotten (agentmon.store.retention): a late event before the tasks' horizon
    makes no new task, since its own may have been forgotten after it was counted."""
    db.execute("CREATE TABLE retention_horizons (what TEXT PRIMARY KEY, ts REAL NOT NULL) WITHOUT ROWID")


@migration
def m020_held_events_and_parser_state(db: sqlite_utils.Database) -> None:
    """Claude Code lines read before their task is known (older than every prompt of their session, or a
    subagent's before its launch), kept as derived events to re-attribute them when it is
    (agentmon.store.held_events); and what the parser must remember across restarts
    (agentmon.store.claude_code_state)."""
    db.execute(
        """
        CREATE TABLE held_events (
            id INTEGER PRIMARY KEY, agent TEXT NOT NULL, task TEXT NOT NULL, session TEXT NOT NULL,
            subagent TEXT NOT NULL, ts REAL NOT NULL, request_id TEXT, cost_nanos INTEGER, event BLOB NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX held_events_by_session ON held_events (session, subagent)")
    db.execute("CREATE INDEX held_events_by_task ON held_events (agent, task)")
    db.execute("CREATE INDEX held_events_by_ts ON held_events (ts)")
    db.execute(
        """
        CREATE TABLE claude_code_state (
            session TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, ts REAL NOT NULL,
            PRIMARY KEY (session, kind, key)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX claude_code_state_by_ts ON claude_code_state (ts)")


@migration
def m021_subagents(db: sqlite_utils.Database) -> None:
    """What orchestration costs: per task, how many subagents did work for it and what they spent of its tokens
    and cost, the ids of those its events named, and (a child task) its parent; per agent, the ended tasks with
    subagents apart, with their successes, unknown ends and cost, and the subagents' cost and tokens; per
    OpenTelemetry trace, each agent's invoke_agent span (which agent's invocation is nested in the root's).
    Tasks counted before this have none: their logs read again into a new database show them."""
    for column in (
        "subagents INTEGER NOT NULL DEFAULT 0",
        "subagent_tokens INTEGER NOT NULL DEFAULT 0",
        "subagent_cost_nanos INTEGER NOT NULL DEFAULT 0",
        "subagent_ids TEXT",
        "parent_task TEXT",
        "parent_agent TEXT",
        "parent_ts REAL",
    ):
        db.execute(f"ALTER TABLE tasks ADD COLUMN {column}")
    for table in ("agg_total", "agg_hour", "agg_minute", "agg_host_hour", "agg_host_total"):
        for column in (
            "orchestrated",
            "orchestrated_successes",
            "orchestrated_unlabeled",
            "orchestrated_cost_nanos",
            "orchestrated_unlabeled_cost_nanos",
            "subagent_cost_nanos",
            "subagent_tokens",
        ):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE llm_requests ADD COLUMN subagent TEXT")
    db.execute(
        "CREATE TABLE otel_agent_spans (trace_id TEXT NOT NULL, agent TEXT NOT NULL, start_ts REAL NOT NULL,"
        " end_ts REAL NOT NULL, root INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (trace_id, agent)) WITHOUT ROWID"
    )


@migration
def m022_task_evidence(db: sqlite_utils.Database) -> None:
    """Each task's evidence of how it went (derived values only: docs/success.md), per agent the tasks that
    ended unknown which the rule over that evidence decides, and an index of the labelled tasks (to set the rule
    against them). Tasks read before this have no evidence: they count as they did, undecided."""
    for column in (
        "ending TEXT",
        "ending_ts REAL",
        "next_prompt TEXT",
        "next_prompt_ts REAL",
        "prompt_hash TEXT",
        "check_kind TEXT",
        "check_ts REAL",
        "check_ok INTEGER",
        "todos_done INTEGER",
        "todos_total INTEGER",
        "todos_ts REAL",
        "committed INTEGER NOT NULL DEFAULT 0",
        "unresolved_errors INTEGER",
        "tool_families TEXT",
    ):
        db.execute(f"ALTER TABLE tasks ADD COLUMN {column}")
    for table in ("agg_total", "agg_hour", "agg_minute", "agg_host_hour", "agg_host_total"):
        for column in ("inferred_successes", "inferred_failures"):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    # The labelled tasks of an agent, for `agentmon calibrate`: as many entries as labels (made by hand), none
    # for the other tasks, whose writes skip it.
    db.execute("CREATE INDEX tasks_labeled ON tasks (agent, labeled_at) WHERE labeled_at IS NOT NULL")


@migration
def m023_otel_trace_times(db: sqlite_utils.Database) -> None:
    """When each trace let go as a service's task last had an event, so that retention can forget it (its
    spans all came long ago). Those named before count from now."""
    db.execute("ALTER TABLE otel_traces ADD COLUMN ts REAL")
    db.execute("UPDATE otel_traces SET ts = CAST(strftime('%s', 'now') AS REAL)")


@migration
def m024_files_seen(db: sqlite_utils.Database) -> None:
    """The size and modification time a local file had when it was read to its end, committed with its offset
    (agentmon.ingest.tail.Tracked.seen): a run that finds it so again need not open it to check its content."""
    _script(db, "ALTER TABLE files ADD COLUMN seen_size INTEGER; ALTER TABLE files ADD COLUMN seen_mtime_ns INTEGER")


# --- the final schema, for a new database ---------------------------------------------------------------------------


def fresh_script(conn: sqlite3.Connection) -> str:
    """What a migrated database `conn` holds, as the script that makes it at once: each table (columns wrapped, in
    the order the migrations made them) followed by its indexes, then the rows the migrations wrote."""
    objects = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
    tables: dict[str, list[str]] = {}
    for kind, name, table, sql in objects.fetchall():
        if kind == "table":
            tables[name] = [_wrap_table(sql)]
        else:
            tables[table].append(" ".join(sql.split()))
    out = [statement for statements in tables.values() for statement in statements]
    for table in tables:
        if table == "_sqlite_migrations":
            continue
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            out.append(f'INSERT INTO "{table}" VALUES ({", ".join(map(_literal, row))})')
    names = [name for (name,) in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    out.append(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES\n    "
        + ",\n    ".join(f"('{MIGRATION_SET}', '{name}', {_NOW})" for name in names)
    )
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    out.append(f"PRAGMA user_version = {version}")
    return "".join(f"{statement};\n" for statement in out)


# applied_at as sqlite-utils writes it (its text is only shown, never compared)
_NOW = "strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')"


def _wrap_table(sql: str) -> str:
    """CREATE TABLE's text, its column list split at top-level commas and wrapped to lines of 120 characters."""
    sql = " ".join(sql.split())
    start, end = sql.index("("), sql.rindex(")")
    items, depth, quote, begin = [], 0, "", start + 1
    for i in range(start + 1, end):
        c = sql[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            items.append(sql[begin:i].strip())
            begin = i + 1
    items.append(sql[begin:end].strip())
    lines = [""]
    for item in items:
        if lines[-1] and len(lines[-1]) + len(item) + 6 > 120:
            lines.append("")
        lines[-1] += f"{item}, " if item is not items[-1] else item
    body = "\n".join(f"    {line.rstrip()}" for line in lines)
    return f"{sql[:start].rstrip()} (\n{body}\n){sql[end + 1 :]}"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def migrated_script() -> str:
    """`fresh_script` of a database made by running every migration."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    return fresh_script(conn)


def _rewrite_fresh() -> None:
    """Regenerate FRESH in this file from the migrations."""
    path = Path(__file__)
    text = path.read_text()
    start = text.index(_FRESH_START) + len(_FRESH_START)
    end = text.index('"""', start)
    path.write_text(text[:start] + migrated_script() + text[end:])


_FRESH_START = 'FRESH = """\\\n'
# Generated by `python -m agentmon.store.schema` from the migrations above: edit those, then run it.
FRESH = """\
CREATE TABLE "_sqlite_migrations" (
    "id" INTEGER PRIMARY KEY, "migration_set" TEXT, "name" TEXT, "applied_at" TEXT
);
CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name" ON "_sqlite_migrations" ("migration_set", "name");
CREATE TABLE files (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, dev INTEGER, ino INTEGER, fp_len INTEGER NOT NULL DEFAULT 0,
    fp_hash TEXT NOT NULL DEFAULT '', offset INTEGER NOT NULL DEFAULT 0, marker TEXT NOT NULL DEFAULT '',
    skipping INTEGER NOT NULL DEFAULT 0, lines INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'active', updated REAL, format TEXT, host TEXT NOT NULL DEFAULT '', seen_size INTEGER,
    seen_mtime_ns INTEGER
);
CREATE UNIQUE INDEX files_active_inode ON files (host, dev, ino) WHERE state = 'active';
CREATE INDEX files_by_inode ON files (dev, ino) WHERE state = 'active';
CREATE TABLE tasks (
    agent, task, key, model, model_rank, model_ts, first_ts, last_ts, end_ts, outcome, reason, cost_nanos, llm_calls,
    unpriced_llm_calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, tool_calls, tool_errors,
    escalations, first_escalation_ts, escalation_reason, escalation_reason_ts, confirmations, rejections,
    rejected_action, rejected_ts, interventions, follow_up_ts REAL, host TEXT NOT NULL DEFAULT '',
    reasoning_tokens INTEGER NOT NULL DEFAULT 0, rating TEXT, rating_ts REAL, labeled_at REAL,
    permission_denials INTEGER NOT NULL DEFAULT 0, api_errors INTEGER NOT NULL DEFAULT 0,
    api_failed INTEGER NOT NULL DEFAULT 0, logged_reason TEXT, subagents INTEGER NOT NULL DEFAULT 0,
    subagent_tokens INTEGER NOT NULL DEFAULT 0, subagent_cost_nanos INTEGER NOT NULL DEFAULT 0, subagent_ids TEXT,
    parent_task TEXT, parent_agent TEXT, parent_ts REAL, ending TEXT, ending_ts REAL, next_prompt TEXT,
    next_prompt_ts REAL, prompt_hash TEXT, check_kind TEXT, check_ts REAL, check_ok INTEGER, todos_done INTEGER,
    todos_total INTEGER, todos_ts REAL, committed INTEGER NOT NULL DEFAULT 0, unresolved_errors INTEGER,
    tool_families TEXT, PRIMARY KEY (agent, task)
) WITHOUT ROWID;
CREATE INDEX tasks_by_end ON tasks (agent, end_ts);
CREATE INDEX tasks_escalated ON tasks (agent, escalation_reason_ts) WHERE escalations > 0;
CREATE INDEX tasks_rejected ON tasks (agent, rejected_ts) WHERE rejections > 0;
CREATE INDEX tasks_failed ON tasks (agent, end_ts) WHERE outcome IN ('failure', 'abandoned');
CREATE INDEX tasks_by_key ON tasks (agent, key) WHERE key IS NOT NULL;
CREATE INDEX tasks_labeled ON tasks (agent, labeled_at) WHERE labeled_at IS NOT NULL;
CREATE TABLE agg_total (
    agent TEXT, model TEXT, ended INTEGER NOT NULL DEFAULT 0, successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0, abandoned INTEGER NOT NULL DEFAULT 0, autonomous INTEGER NOT NULL DEFAULT 0,
    cost_nanos INTEGER NOT NULL DEFAULT 0, llm_calls INTEGER NOT NULL DEFAULT 0,
    unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0, tasks_seen INTEGER NOT NULL DEFAULT 0,
    escalated_tasks INTEGER NOT NULL DEFAULT 0, tool_calls INTEGER NOT NULL DEFAULT 0,
    tool_errors INTEGER NOT NULL DEFAULT 0, confirmations INTEGER NOT NULL DEFAULT 0,
    rejections INTEGER NOT NULL DEFAULT 0, unlabeled INTEGER NOT NULL DEFAULT 0, api_errors INTEGER NOT NULL DEFAULT 0,
    successes_no_escalation INTEGER NOT NULL DEFAULT 0, successes_no_human_step INTEGER NOT NULL DEFAULT 0,
    followed_up INTEGER NOT NULL DEFAULT 0, followed_up_no_escalation INTEGER NOT NULL DEFAULT 0,
    followed_up_no_human_step INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    permission_denials INTEGER NOT NULL DEFAULT 0, api_retries INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0, unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    unlabeled_unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, orchestrated INTEGER NOT NULL DEFAULT 0,
    orchestrated_successes INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled INTEGER NOT NULL DEFAULT 0,
    orchestrated_cost_nanos INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    subagent_cost_nanos INTEGER NOT NULL DEFAULT 0, subagent_tokens INTEGER NOT NULL DEFAULT 0,
    inferred_successes INTEGER NOT NULL DEFAULT 0, inferred_failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, model)
) WITHOUT ROWID;
CREATE TABLE agg_hour (
    bucket INTEGER, agent TEXT, model TEXT, ended INTEGER NOT NULL DEFAULT 0, successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0, abandoned INTEGER NOT NULL DEFAULT 0, autonomous INTEGER NOT NULL DEFAULT 0,
    cost_nanos INTEGER NOT NULL DEFAULT 0, llm_calls INTEGER NOT NULL DEFAULT 0,
    unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0, tasks_seen INTEGER NOT NULL DEFAULT 0,
    escalated_tasks INTEGER NOT NULL DEFAULT 0, tool_calls INTEGER NOT NULL DEFAULT 0,
    tool_errors INTEGER NOT NULL DEFAULT 0, confirmations INTEGER NOT NULL DEFAULT 0,
    rejections INTEGER NOT NULL DEFAULT 0, unlabeled INTEGER NOT NULL DEFAULT 0, api_errors INTEGER NOT NULL DEFAULT 0,
    successes_no_escalation INTEGER NOT NULL DEFAULT 0, successes_no_human_step INTEGER NOT NULL DEFAULT 0,
    followed_up INTEGER NOT NULL DEFAULT 0, followed_up_no_escalation INTEGER NOT NULL DEFAULT 0,
    followed_up_no_human_step INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    permission_denials INTEGER NOT NULL DEFAULT 0, api_retries INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0, unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    unlabeled_unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, orchestrated INTEGER NOT NULL DEFAULT 0,
    orchestrated_successes INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled INTEGER NOT NULL DEFAULT 0,
    orchestrated_cost_nanos INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    subagent_cost_nanos INTEGER NOT NULL DEFAULT 0, subagent_tokens INTEGER NOT NULL DEFAULT 0,
    inferred_successes INTEGER NOT NULL DEFAULT 0, inferred_failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, agent, model)
) WITHOUT ROWID;
CREATE TABLE agg_minute (
    bucket INTEGER, agent TEXT, model TEXT, ended INTEGER NOT NULL DEFAULT 0, successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0, abandoned INTEGER NOT NULL DEFAULT 0, autonomous INTEGER NOT NULL DEFAULT 0,
    cost_nanos INTEGER NOT NULL DEFAULT 0, llm_calls INTEGER NOT NULL DEFAULT 0,
    unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0, tasks_seen INTEGER NOT NULL DEFAULT 0,
    escalated_tasks INTEGER NOT NULL DEFAULT 0, tool_calls INTEGER NOT NULL DEFAULT 0,
    tool_errors INTEGER NOT NULL DEFAULT 0, confirmations INTEGER NOT NULL DEFAULT 0,
    rejections INTEGER NOT NULL DEFAULT 0, unlabeled INTEGER NOT NULL DEFAULT 0, api_errors INTEGER NOT NULL DEFAULT 0,
    successes_no_escalation INTEGER NOT NULL DEFAULT 0, successes_no_human_step INTEGER NOT NULL DEFAULT 0,
    followed_up INTEGER NOT NULL DEFAULT 0, followed_up_no_escalation INTEGER NOT NULL DEFAULT 0,
    followed_up_no_human_step INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    permission_denials INTEGER NOT NULL DEFAULT 0, api_retries INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0, unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    unlabeled_unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, orchestrated INTEGER NOT NULL DEFAULT 0,
    orchestrated_successes INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled INTEGER NOT NULL DEFAULT 0,
    orchestrated_cost_nanos INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    subagent_cost_nanos INTEGER NOT NULL DEFAULT 0, subagent_tokens INTEGER NOT NULL DEFAULT 0,
    inferred_successes INTEGER NOT NULL DEFAULT 0, inferred_failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, agent, model)
) WITHOUT ROWID;
CREATE TABLE eval_results (
    agent TEXT, suite TEXT, run TEXT, "case" TEXT, passed INTEGER, ts REAL, critical INTEGER, agent_version TEXT,
    PRIMARY KEY (agent, suite, run, "case")
) WITHOUT ROWID;
CREATE TABLE eval_runs (
    agent TEXT, suite TEXT, run TEXT, newest_ts REAL, cases INTEGER, passed INTEGER, critical_failed INTEGER,
    agent_version TEXT, PRIMARY KEY (agent, suite, run)
) WITHOUT ROWID;
CREATE INDEX eval_runs_latest ON eval_runs (agent, suite, newest_ts);
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY, file_id INTEGER, path TEXT, offset INTEGER, reason TEXT, excerpt TEXT, at REAL
);
CREATE TABLE ingest_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1), lines INTEGER NOT NULL, quarantined INTEGER NOT NULL, last_error TEXT,
    last_error_at REAL
);
CREATE TABLE agents (
    agent TEXT PRIMARY KEY, first_ts REAL, last_ts REAL
) WITHOUT ROWID;
CREATE TABLE llm_requests (
    request_id TEXT PRIMARY KEY, agent TEXT, task TEXT, ts REAL, input_tokens INTEGER, output_tokens INTEGER,
    cache_read_tokens INTEGER, cache_write_tokens INTEGER, cost_nanos INTEGER, priced INTEGER,
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0, subagent TEXT
) WITHOUT ROWID;
CREATE TABLE session_prompts (
    session TEXT, ts REAL, task TEXT, PRIMARY KEY (session, ts, task)
) WITHOUT ROWID;
CREATE INDEX session_prompts_by_task ON session_prompts (task);
CREATE TABLE otel_seen (
    key TEXT PRIMARY KEY, at REAL
) WITHOUT ROWID;
CREATE TABLE otel_traces (
    trace_id TEXT PRIMARY KEY, agent TEXT, ts REAL
) WITHOUT ROWID;
CREATE TABLE otel_pending (
    trace_id TEXT, event BLOB, at REAL NOT NULL DEFAULT 0
);
CREATE INDEX otel_pending_by_trace ON otel_pending (trace_id);
CREATE INDEX otel_pending_by_time ON otel_pending (at);
CREATE TABLE agg_host_hour (
    bucket INTEGER, agent TEXT, host TEXT, ended INTEGER NOT NULL DEFAULT 0, successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0, abandoned INTEGER NOT NULL DEFAULT 0, autonomous INTEGER NOT NULL DEFAULT 0,
    cost_nanos INTEGER NOT NULL DEFAULT 0, llm_calls INTEGER NOT NULL DEFAULT 0,
    unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0, tasks_seen INTEGER NOT NULL DEFAULT 0,
    escalated_tasks INTEGER NOT NULL DEFAULT 0, tool_calls INTEGER NOT NULL DEFAULT 0,
    tool_errors INTEGER NOT NULL DEFAULT 0, confirmations INTEGER NOT NULL DEFAULT 0,
    rejections INTEGER NOT NULL DEFAULT 0, unlabeled INTEGER NOT NULL DEFAULT 0, api_errors INTEGER NOT NULL DEFAULT 0,
    successes_no_escalation INTEGER NOT NULL DEFAULT 0, successes_no_human_step INTEGER NOT NULL DEFAULT 0,
    followed_up INTEGER NOT NULL DEFAULT 0, followed_up_no_escalation INTEGER NOT NULL DEFAULT 0,
    followed_up_no_human_step INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    permission_denials INTEGER NOT NULL DEFAULT 0, api_retries INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0, unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    unlabeled_unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, orchestrated INTEGER NOT NULL DEFAULT 0,
    orchestrated_successes INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled INTEGER NOT NULL DEFAULT 0,
    orchestrated_cost_nanos INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    subagent_cost_nanos INTEGER NOT NULL DEFAULT 0, subagent_tokens INTEGER NOT NULL DEFAULT 0,
    inferred_successes INTEGER NOT NULL DEFAULT 0, inferred_failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, agent, host)
) WITHOUT ROWID;
CREATE TABLE agg_host_total (
    agent TEXT, host TEXT, ended INTEGER NOT NULL DEFAULT 0, successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0, abandoned INTEGER NOT NULL DEFAULT 0, autonomous INTEGER NOT NULL DEFAULT 0,
    cost_nanos INTEGER NOT NULL DEFAULT 0, llm_calls INTEGER NOT NULL DEFAULT 0,
    unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0, tasks_seen INTEGER NOT NULL DEFAULT 0,
    escalated_tasks INTEGER NOT NULL DEFAULT 0, tool_calls INTEGER NOT NULL DEFAULT 0,
    tool_errors INTEGER NOT NULL DEFAULT 0, confirmations INTEGER NOT NULL DEFAULT 0,
    rejections INTEGER NOT NULL DEFAULT 0, unlabeled INTEGER NOT NULL DEFAULT 0, api_errors INTEGER NOT NULL DEFAULT 0,
    successes_no_escalation INTEGER NOT NULL DEFAULT 0, successes_no_human_step INTEGER NOT NULL DEFAULT 0,
    followed_up INTEGER NOT NULL DEFAULT 0, followed_up_no_escalation INTEGER NOT NULL DEFAULT 0,
    followed_up_no_human_step INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    permission_denials INTEGER NOT NULL DEFAULT 0, api_retries INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0, unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    unlabeled_unpriced_llm_calls INTEGER NOT NULL DEFAULT 0, orchestrated INTEGER NOT NULL DEFAULT 0,
    orchestrated_successes INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled INTEGER NOT NULL DEFAULT 0,
    orchestrated_cost_nanos INTEGER NOT NULL DEFAULT 0, orchestrated_unlabeled_cost_nanos INTEGER NOT NULL DEFAULT 0,
    subagent_cost_nanos INTEGER NOT NULL DEFAULT 0, subagent_tokens INTEGER NOT NULL DEFAULT 0,
    inferred_successes INTEGER NOT NULL DEFAULT 0, inferred_failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, host)
) WITHOUT ROWID;
CREATE TABLE remote_sources (
    source TEXT PRIMARY KEY, host TEXT, connected INTEGER NOT NULL DEFAULT 0, mode TEXT, since REAL, caught_up_at REAL,
    lag_bytes INTEGER, last_error TEXT, last_error_at REAL, updated REAL
) WITHOUT ROWID;
CREATE TABLE boots (
    host TEXT PRIMARY KEY, boot_id TEXT NOT NULL, seen REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE waiting_documents (
    host TEXT NOT NULL, path TEXT NOT NULL, since REAL NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (host, path)
) WITHOUT ROWID;
CREATE TABLE retention_horizons (
    what TEXT PRIMARY KEY, ts REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE held_events (
    id INTEGER PRIMARY KEY, agent TEXT NOT NULL, task TEXT NOT NULL, session TEXT NOT NULL, subagent TEXT NOT NULL,
    ts REAL NOT NULL, request_id TEXT, cost_nanos INTEGER, event BLOB NOT NULL
);
CREATE INDEX held_events_by_session ON held_events (session, subagent);
CREATE INDEX held_events_by_task ON held_events (agent, task);
CREATE INDEX held_events_by_ts ON held_events (ts);
CREATE TABLE claude_code_state (
    session TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, ts REAL NOT NULL,
    PRIMARY KEY (session, kind, key)
) WITHOUT ROWID;
CREATE INDEX claude_code_state_by_ts ON claude_code_state (ts);
CREATE TABLE otel_agent_spans (
    trace_id TEXT NOT NULL, agent TEXT NOT NULL, start_ts REAL NOT NULL, end_ts REAL NOT NULL,
    root INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (trace_id, agent)
) WITHOUT ROWID;
INSERT INTO "ingest_totals" VALUES (1, 0, 0, NULL, NULL);
INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES
    ('agentmon', 'm001_initial', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm002_live_monitor', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm003_unlabeled_and_requests', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm004_formats_and_prompts', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm005_opentelemetry', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm006_api_errors', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm007_one_hour_cache_writes', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm008_success_definitions', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm009_follow_ups', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm010_hosts', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm011_boots', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm012_pending_since', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm013_reasoning_tokens', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm014_ratings', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm015_waiting_documents', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm016_labels_and_denials', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm017_denials_retries_and_spend', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm018_prompts_by_task', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm019_retention', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm020_held_events_and_parser_state', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm021_subagents', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm022_task_evidence', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm023_otel_trace_times', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    ('agentmon', 'm024_files_seen', strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now'));
PRAGMA user_version = 24;
"""

if __name__ == "__main__":
    _rewrite_fresh()
