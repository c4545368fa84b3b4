"""A writer that made the database remembers the request ids it stored and looks none up on a first read
(agentmon.store.apply.STORED_REQUESTS_LIMIT); a request still counts once however it is split across batches
and writers."""

from agentmon.events import LlmCall
from agentmon.store.batch import Batch
from agentmon.store.writer import Store


def call(request_id: str, output_tokens: int, ts: float = 1_780_000_000.0) -> LlmCall:
    return LlmCall(
        ts=ts,
        agent="claude-code:demo",
        task="t1",
        model="claude-sonnet-4-5",
        input_tokens=100,
        output_tokens=output_tokens,
        request_id=request_id,
    )


def counted(store: Store) -> tuple[int, int, int]:
    """(requests stored, llm calls counted, output tokens counted)"""
    (rows,) = store.conn.execute("SELECT count(*) FROM llm_requests").fetchone()
    calls, output = store.conn.execute("SELECT sum(llm_calls), sum(output_tokens) FROM tasks").fetchone()
    return rows, calls, output


def test_a_request_repeated_in_a_later_batch_of_a_new_database_counts_once(tmp_path):
    with Store(tmp_path / "a.db") as store:
        store.commit(Batch(events=[call("r1", 1)]))
        store.commit(Batch(events=[call("r1", 5, ts=1_780_000_001.0), call("r2", 2)]))
        assert counted(store) == (2, 2, 7)


def test_what_another_writer_stored_is_looked_up(tmp_path):
    """A commit process and its parent both write: what one stored, the other finds."""
    db = tmp_path / "a.db"
    with Store(db) as store:
        store.commit(Batch(events=[call("r1", 1)]))
        other = Store(db, lock_fd=store.lock.fd)
        other.commit(Batch(events=[call("r2", 3)]))
        other.conn.close()
        store.commit(Batch(events=[call("r2", 4), call("r1", 1)]))
        assert counted(store) == (2, 2, 5)


def test_a_rolled_back_batch_leaves_nothing_remembered(tmp_path):
    with Store(tmp_path / "a.db") as store:
        store.rehearse(Batch(events=[call("r1", 1)]))  # applied, then rolled back
        store.commit(Batch(events=[call("r1", 2)]))
        assert counted(store) == (1, 1, 2)
