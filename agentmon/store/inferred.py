"""The inferred outcome of a task that ended without one: a fixed rule over its evidence (docs/success.md).

The first row that matches decides, and its words are the reason. A labelled task never comes here (its label
is its outcome), nor a task whose log gave an outcome. The store counts what this says, per agent and time
bucket, as it counts every outcome (inferred_successes, inferred_failures): reading never runs it over history.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

CHECK_WORDS = {"test": "tests", "build": "the build", "lint": "the linter", "typecheck": "the type check"}
# Tools one family for "resolved": a failed Edit is resolved by a later Write or MultiEdit (agentmon.store.taskstate).
FAMILIES = {"MultiEdit": "Edit", "Write": "Edit", "NotebookEdit": "Edit"}


class HasEvidence(Protocol):
    ending: str | None
    next_prompt: str | None
    check_kind: str | None
    check_ok: int | None
    todos_done: int | None
    todos_total: int | None
    committed: int
    unresolved_errors: int | None


@dataclass
class EvidenceRow:
    """A task's evidence as read back from the tasks table (a TaskState holds the same fields)."""

    ending: str | None
    next_prompt: str | None
    check_kind: str | None
    check_ok: int | None
    todos_done: int | None
    todos_total: int | None
    committed: int
    unresolved_errors: int | None


# The tasks table's columns the rule reads (schema m022, docs/success.md), in EvidenceRow's order.
EVIDENCE = tuple(f.name for f in fields(EvidenceRow))


def infer(t: HasEvidence) -> tuple[str, str]:
    """(success | failure | unknown, the deciding evidence in words). No evidence at all: unknown, ''."""
    ending, after = t.ending, t.next_prompt
    check = CHECK_WORDS.get(t.check_kind or "", "the last check")
    if ending is None and after is None and t.check_kind is None and t.todos_total is None and not t.committed:
        return "unknown", ""
    if ending == "api_failed":
        return "failure", "failure: it ended failing on the API"
    if after == "correction":
        return "failure", "failure: the next prompt was a correction"
    if after == "repeat":
        return "failure", "failure: the next prompt repeated this one"
    if ending == "rejected":
        return "failure", "failure: the user rejected its last tool call"
    if ending == "interrupted":
        return "failure", "failure: the user interrupted it"
    if after == "thanks":
        return "success", "success: the next prompt thanked it"
    if t.check_ok == 0:
        return "failure", f"failure: {check} failed at the end"
    if ending == "asked":
        return "unknown", "unknown: it ended asking the user"
    if ending == "cut_off":
        return "unknown", "unknown: it stopped in the middle of a tool call"
    unresolved = t.unresolved_errors or 0
    moved_on = after == "new"
    if unresolved:
        if moved_on:
            return "unknown", "unknown: a tool error was left unresolved, yet the user moved on"
        return "failure", "failure: a tool error was left unresolved at the end"
    todos_left = t.todos_total is not None and (t.todos_done or 0) < t.todos_total
    if todos_left:
        return "unknown", "unknown: its todo list was left unfinished"
    passed = t.check_ok == 1
    if moved_on:
        if passed:
            return "success", f"success: {check} passed at the end and the user moved on"
        if t.committed:
            return "success", "success: a commit succeeded and the user moved on"
        return "success", "success: it answered and the user moved on to a new request"
    if passed:
        return "success", f"success: {check} passed at the end"
    if t.committed:
        return "success", "success: a commit succeeded"
    if t.todos_total:
        return "success", "success: its todo list was completed"
    return "unknown", "unknown: no next prompt yet"


def conflict(t: HasEvidence) -> str | None:
    """Where the evidence points both ways, its signs in words ("thanked it; but: tests failed at the end");
    None when it points one way or none. Whichever way the rule decides such a task, a person's label is worth
    most there (`agentmon tasks --disagreeing`)."""
    check = CHECK_WORDS.get(t.check_kind or "", "the last check")
    good, bad = [], []
    if t.next_prompt == "thanks":
        good.append("the next prompt thanked it")
    elif t.next_prompt == "new":
        good.append("the user moved on")
    if t.check_ok == 1:
        good.append(f"{check} passed")
    if t.committed:
        good.append("a commit succeeded")
    if t.todos_total and (t.todos_done or 0) >= t.todos_total:
        good.append("its todo list was completed")
    if t.ending in ("api_failed", "rejected", "interrupted"):
        bad.append(
            {"api_failed": "it failed on the API", "rejected": "its last tool call was rejected"}.get(
                t.ending, "it was interrupted"
            )
        )
    if t.next_prompt in ("correction", "repeat"):
        bad.append("the next prompt " + ("corrected it" if t.next_prompt == "correction" else "repeated it"))
    if t.check_ok == 0:
        bad.append(f"{check} failed")
    if t.unresolved_errors:
        bad.append("a tool error was left unresolved")
    if t.todos_total is not None and (t.todos_done or 0) < t.todos_total:
        bad.append("its todo list was left unfinished")
    return f"{', '.join(good)}; but: {', '.join(bad)}" if good and bad else None
