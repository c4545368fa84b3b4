"""How a Claude Code task went, as a careful reader would look for it (docs/success.md): how the assistant's
last turn ended, how the session's next prompt relates to the task, the last test / build / lint / type-check
run and whether it passed, the todo list's completion, a successful commit, and tool errors left unresolved.

Only derived values leave this module (`TaskEvidence`: enums, counts, booleans, a prompt's hash): a prompt's
text is read here to hash it and to match the word lists, never kept. The word lists and command patterns are
data (WORDS), replaced key by key by agentmon.toml's `[evidence]` (`use`).

The parser (agentmon.sources.claude_code) calls in where it already branches: at a tool use by name, at the
few tool results it looks at, at a prompt, at an assistant line of the main conversation. How the last turn
ended changes on most assistant lines, so it is kept per session and handed on only at the next prompt and
at the end of each chunk (`flush`), never once per line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from agentmon.events import CheckKind, Ending, TaskEvidence

# --- the data: word lists and command patterns (docs/success.md lists them; agentmon.toml's [evidence] replaces
# any of them) -----------------------------------------------------------------------------------------------

# Phrases of a next prompt (lowercase words; a prompt is matched lowercased, its punctuation made blanks, in its
# first 200 characters). A correction says the task went wrong, at the start or anywhere:
CORRECTION_STARTS = (
    "no",
    "nope",
    "wrong",
    "oops",
    "undo",
    "revert",
    "that's not",
    "thats not",
    "that is not",
    "it's not",
    "its not",
    "it is not",
    "this is not",
    "not what",
    "still",
)
CORRECTION_ANYWHERE = (
    "doesn't work",
    "does not work",
    "didn't work",
    "did not work",
    "isn't working",
    "not working",
    "still fails",
    "still failing",
    "still broken",
    "still not",
    "still doesn't",
    "still does not",
    "still getting",
    "still the same",
    "you broke",
    "you forgot",
    "you missed",
    "you didn't",
    "you did not",
    "fix these",
    "fix this",
    "fix that",
    "fix it",
    "fix them",
    "try again",
    "i said",
    "i asked",
    "is wrong",
    "are wrong",
    "incorrect",
    "why did you",
    "why didn't you",
)
# …and thanks or approval, at the start (a correction wins: "thanks, but it still fails").
THANKS_STARTS = (
    "thanks",
    "thank you",
    "thx",
    "ty",
    "cheers",
    "great",
    "perfect",
    "awesome",
    "excellent",
    "nice",
    "cool",
    "good job",
    "well done",
    "looks good",
    "lgtm",
    "ok",
    "okay",
    "works",
    "it works",
)
# Commands recognised as checks, by kind: regexes matched at the start of each command of a chain (split at
# `&&`, `||`, `;`, `|`, newlines), after WRAPPERS (`cd x && npx vitest run`: a test). The last check of the
# chain decides; where several kinds match, the one listed first wins (`make test`: a test; `make`: a build).
CHECKS: dict[str, tuple[str, ...]] = {
    "test": (
        r"pytest\b",
        r"py\.test\b",
        r"unittest\b",
        r"(npm|pnpm|yarn|bun) (run )?test",
        r"cargo (test|nextest)\b",
        r"go test\b",
        r"(jest|vitest|mocha|rspec|phpunit|tox|nox)\b",
        r"make (test|check)\b",
        r"(deno|dotnet|mvn|gradle|\./gradlew) test\b",
    ),
    "typecheck": (
        r"(tsc|vue-tsc|mypy|pyright)\b",
        r"(npm|pnpm|yarn|bun) (run )?(type-?check|typecheck|tsc)\b",
        r"cargo check\b",
    ),
    "lint": (
        r"(npm|pnpm|yarn|bun) (run )?lint\b",
        r"cargo clippy\b",
        r"go vet\b",
        r"(ruff|eslint|flake8|pylint|golangci-lint|shellcheck)\b",
        r"(prettier|biome) (--check|check|lint)\b",
        r"make lint\b",
    ),
    "build": (
        r"(npm|pnpm|yarn|bun) (run )?build\b",
        r"(cargo|go|dotnet|next|vite|gradle|\./gradlew) build\b",
        r"mvn (package|install|compile)\b",
        r"make\b",
    ),
}
# What may come before a command in its place: environment assignments and runners of other commands.
WRAPPERS = (
    r"\w+=\S*",
    r"(sudo|env|time|nice|exec|command)\b",
    r"timeout( -\S+)* \S+",
    r"(npx|bunx|uvx|pnpx)( -\S+)*",
    r"(uv|poetry|pipenv|hatch|pdm) run",
    r"(pnpm|yarn) (exec|dlx)",
    r"python[0-9.]* -m",
    r"\(",
)
COMMIT = (r"git( -\S+( [^-\s]\S*)?)* commit\b(?!.*--dry-run)",)  # a command of the chain that commits (as CHECKS)
# Tools one family for "resolved": a failed Edit is resolved by a later successful Write or MultiEdit.
FAMILIES = {"MultiEdit": "Edit", "Write": "Edit", "NotebookEdit": "Edit"}
# Tools whose calls say something here: Bash (checks, commits), the todo list (TodoWrite; since Claude Code
# 2.1.142 TaskCreate and TaskUpdate).
COMMAND_TOOLS = frozenset({"Bash"})
TODO_TOOLS = frozenset({"TodoWrite", "TaskCreate", "TaskUpdate"})

DEFAULT_WORDS: dict[str, Any] = {
    "correction_starts": CORRECTION_STARTS,
    "correction_anywhere": CORRECTION_ANYWHERE,
    "thanks_starts": THANKS_STARTS,
    "checks": CHECKS,
    "wrappers": WRAPPERS,
    "commit": COMMIT,
    "families": FAMILIES,
}
PROMPT_CHARS = 200  # of a prompt matched against the word lists
BACKGROUND = "Command running in background"  # a Bash result that is no verdict on its command
KEPT = 20_000  # tasks and calls remembered; past it the older half goes


@dataclass
class Words:
    """The word lists and patterns, ready to match."""

    correction_starts: tuple[str, ...]  # each between blanks, as the prompt's words are
    correction_anywhere: tuple[str, ...]
    thanks_starts: tuple[str, ...]
    checks: re.Pattern[str]  # every kind's patterns in one, a named group per kind (in CHECKS' order)
    wrappers: re.Pattern[str]
    commit: re.Pattern[str]
    families: dict[str, str] = field(default_factory=dict)


def compile_words(words: dict[str, Any]) -> Words:
    """`words` (DEFAULT_WORDS with agentmon.toml's keys over it), made ready; a bad regex raises re.error.
    Phrases are matched as substrings of the prompt's words (no regex: a search of dozens of patterns through
    300 characters took 50 µs a prompt), and commands by patterns anchored where each command starts."""

    def phrases(items) -> tuple[str, ...]:
        return tuple(f" {_words(p)} " for p in items if _words(p))

    def one(patterns) -> str:
        return "|".join(f"(?:{p})" for p in patterns) or r"(?!)"

    checks = "|".join(f"(?P<{kind}>{one(patterns)})" for kind, patterns in words["checks"].items() if patterns)
    return Words(
        phrases(words["correction_starts"]),
        phrases(words["correction_anywhere"]),
        phrases(words["thanks_starts"]),
        re.compile(checks or r"(?!)"),
        re.compile(rf"(?:(?:{one(words['wrappers'])})\s+)*"),
        re.compile(one(words["commit"])),
        dict(words["families"]),
    )


_PUNCTUATION = str.maketrans({c: " " for c in '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\u2019'})


def _words(text: str) -> str:
    """Lowercase words between single blanks, ASCII punctuation made blanks (an apostrophe kept, a typographic one
    made a blank like the rest): what phrases are matched against."""
    return " ".join(text.lower().translate(_PUNCTUATION).split())


WORDS = compile_words(DEFAULT_WORDS)


def use(overrides: dict[str, Any]) -> None:
    """agentmon.toml's `[evidence]`: each key given replaces the default list (`checks` kind by kind)."""
    global WORDS
    merged = dict(DEFAULT_WORDS)
    for key, value in overrides.items():
        merged[key] = {**CHECKS, **value} if key == "checks" else value
    WORDS = compile_words(merged)


# --- the derived values -----------------------------------------------------------------------------------------


def prompt_hash(text: str) -> str:
    """A prompt's identity without its text: blake2b of it without its outer blanks (16 hex digits)."""
    return hashlib.blake2b(text.strip().encode(), digest_size=8).hexdigest()


def relation(text: str, previous_hash: str | None) -> tuple[str, str]:
    """(how a prompt relates to the task before it, the prompt's hash): a repeat (the same prompt), a
    correction, thanks, else a new request. A correction wins over thanks ("thanks, but it still fails")."""
    h = prompt_hash(text)
    if h == previous_hash:
        return "repeat", h
    said = f" {_words(text[:PROMPT_CHARS])} "
    w = WORDS
    if said.startswith(w.correction_starts) or any(p in said for p in w.correction_anywhere):
        return "correction", h
    if said.startswith(w.thanks_starts):
        return "thanks", h
    return "new", h


_CHAIN = re.compile(r"&&|\|\||[;|\n]")
_CHAINED = re.compile(r"[;&|\n]")


def commands(command: str) -> list[str]:
    """The commands of a chain, each from where its program starts (after WRAPPERS)."""
    wrappers = WORDS.wrappers
    if not _CHAINED.search(command):  # most commands: one program
        command = command.strip()
        return [command[wrappers.match(command).end() :]]  # type: ignore[union-attr]  # matches, maybe empty
    out = []
    for part in _CHAIN.split(command):
        part = part.strip()
        if part:
            out.append(part[wrappers.match(part).end() :])  # type: ignore[union-attr]  # matches, maybe empty
    return out


def check_kind(parts: list[str]) -> str | None:
    """The kind of the last check among a chain's commands (CHECKS), or None."""
    match = WORDS.checks.match
    for part in reversed(parts):
        if (m := match(part)) is not None:
            return m.lastgroup
    return None


def commits(parts: list[str]) -> bool:
    match = WORDS.commit.match
    return any(match(part) for part in parts)


def failed(is_error: bool | None, text: str) -> bool:
    """Whether a command's result says it failed: `is_error`, or an `Exit code N` other than 0."""
    if is_error:
        return True
    if text.startswith("Exit code "):
        code = text[10:].split(None, 1)[:1]
        return code != ["0"]
    return False


class _Command(msgspec.Struct, gc=False):
    command: str = ""


class _Todo(msgspec.Struct, gc=False):
    status: str = ""


class _TodoList(msgspec.Struct, gc=False):
    todos: list[_Todo] = []


class _TaskUpdate(msgspec.Struct, gc=False):
    taskId: str | int | None = None
    status: str | None = None


_command = msgspec.json.Decoder(_Command)
_todo_list = msgspec.json.Decoder(_TodoList)
_task_update = msgspec.json.Decoder(_TaskUpdate)


def _decode(decoder: msgspec.json.Decoder, raw: bytes) -> Any:
    try:
        return decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


@dataclass
class _Todos:
    """A task's todo list under the Task tools: how many were created, and each one's latest status."""

    created: int = 0
    status: dict[str, str] = field(default_factory=dict)

    def counts(self) -> tuple[int, int]:
        deleted = sum(s == "deleted" for s in self.status.values())
        done = sum(s == "completed" for s in self.status.values())
        return done, max(self.created - deleted, done)


class EvidenceTracker:
    """What the parser remembers between lines to derive a task's evidence. Lost on a restart, as the parser's
    other memory is (docs/success.md says what that changes)."""

    def __init__(self, classify: Callable[[Any], str]) -> None:
        self.classify = classify  # the parser's: an assistant's last block -> its ending
        # tool_use id -> (what its result decides, its task, the call's time, a check's kind or the tool's family)
        self.watched: dict[str, tuple[str, str, float, str]] = {}
        self.erred: dict[str, set[str]] = {}  # task -> the tool families whose last result there failed
        # session -> (ts, task, agent, the ending or the assistant's last block): the main conversation's latest
        # state, set by the parser on each of its assistant lines and handed on at a prompt or a chunk's end
        self.endings: dict[str, tuple[float, str, str, Any]] = {}
        self._sent: dict[str, tuple[float, str, str, str]] = {}  # session -> the last ending handed on
        self._hashes: dict[str, str] = {}  # session -> its latest prompt's hash
        self._todos: dict[str, _Todos] = {}

    def reset(self) -> None:
        """Forget the endings handed on with a batch that failed to commit: they are sent again."""
        for session, sent in self._sent.items():
            self.endings.setdefault(session, sent)
        self._sent.clear()

    # --- how the last turn ended --------------------------------------------------------------------------

    def ended(self, session: str, ts: float, task: str, agent: str, ending: str) -> None:
        """The main conversation's latest state, where the parser sets it by a word (`interrupted`...)."""
        now = self.endings.get(session) or self._sent.get(session)
        if now is None or ts >= now[0]:
            self.endings[session] = (ts, task, agent, ending)

    def flush(self) -> list[TaskEvidence]:
        """The endings changed since the last flush (the end of each chunk)."""
        out = [e for session in list(self.endings) if (e := self._send(session)) is not None]
        self.endings.clear()
        return out

    def _send(self, session: str) -> TaskEvidence | None:
        ts, task, agent, state = self.endings.pop(session)
        ending = state if isinstance(state, str) else self.classify(state)
        if self._sent.get(session) == (ts, task, agent, ending):
            return None
        self._sent[session] = (ts, task, agent, ending)
        if len(self._sent) > KEPT:
            self._sent.pop(next(iter(self._sent)))
        return TaskEvidence(ts=ts, agent=agent, task=task, ending=_ending(ending))

    # --- prompts ------------------------------------------------------------------------------------------

    def prompt(
        self, session: str, ts: float, task: str, agent: str, previous: str | None, text: str | None
    ) -> list[TaskEvidence]:
        """A new prompt: the task before it learns how it relates to it; the new task keeps the prompt's hash.
        A slash command (`text` None) is a new request."""
        out = []
        if session in self.endings and (sent := self._send(session)) is not None:  # the task before's last turn
            out.append(sent)
        h = None
        if text is None:
            rel = "new"
        else:
            rel, h = relation(text, self._hashes.get(session))
            self._remember(self._hashes, session, h)
        if previous is not None:
            out.append(TaskEvidence(ts=ts, agent=agent, task=previous, next_prompt=rel))  # type: ignore[arg-type]
        if h is not None:
            out.append(TaskEvidence(ts=ts, agent=agent, task=task, prompt_hash=h))
        return out

    def answer(self, ts: float, task: str, agent: str) -> list[TaskEvidence]:
        """The person answered the assistant's question: the task goes on."""
        return [TaskEvidence(ts=ts, agent=agent, task=task, next_prompt="answer")]

    # --- tool calls and their results ---------------------------------------------------------------------

    def tool_use(
        self, call_id: str, name: str, raw_input: bytes, ts: float, task: str, agent: str, main: bool
    ) -> list[TaskEvidence]:
        """A tool use: a check or a commit to watch, a todo list's state, a call that may resolve an error."""
        out: list[TaskEvidence] = []
        family = WORDS.families.get(name, name)
        if (erred := self.erred.get(task)) is not None and family in erred:
            self._remember(self.watched, call_id, ("resolves", task, ts, family))
        if name in COMMAND_TOOLS:
            command = _decode(_command, raw_input)
            if command is not None and command.command:
                parts = commands(command.command)
                kind = check_kind(parts)
                if kind is not None:
                    self._remember(self.watched, call_id, ("check", task, ts, kind))
                    out.append(TaskEvidence(ts=ts, agent=agent, task=task, check=_kind(kind), check_at=ts))
                elif commits(parts):
                    self._remember(self.watched, call_id, ("commit", task, ts, ""))
        elif name in TODO_TOOLS and main:
            counts = self._todo_counts(name, raw_input, task)
            if counts is not None:
                out.append(TaskEvidence(ts=ts, agent=agent, task=task, todos_done=counts[0], todos_total=counts[1]))
        return out

    def _todo_counts(self, name: str, raw_input: bytes, task: str) -> tuple[int, int] | None:
        if name == "TodoWrite":
            todos = _decode(_todo_list, raw_input)
            if todos is None:
                return None
            return sum(t.status == "completed" for t in todos.todos), len(todos.todos)
        kept = self._todos.get(task)
        if kept is None:
            kept = self._todos[task] = _Todos()
            if len(self._todos) > KEPT:
                self._todos.pop(next(iter(self._todos)))
        if name == "TaskCreate":
            kept.created += 1
        else:
            update = _decode(_task_update, raw_input)
            if update is None or update.taskId is None or not update.status:
                return None
            kept.status[str(update.taskId)] = update.status
        return kept.counts()

    def result(
        self, call_id: str | None, tool: str, ts: float, agent: str, is_error: bool, text: Callable[[], str]
    ) -> list[TaskEvidence]:
        """A watched call's result: a check passed or failed, a commit made, an error resolved. `text()`: the
        result's text, read for a check or a commit ("Exit code N", a background run)."""
        watched = self.watched.pop(call_id, None) if call_id else None
        if watched is None:
            return []
        what, task, at, detail = watched
        if what == "resolves":
            return [] if is_error else self._resolved(task, detail, ts, agent)
        said = text()
        bad = failed(is_error, said)
        if what == "check":
            ok = None if said.startswith(BACKGROUND) else not bad
            return [TaskEvidence(ts=ts, agent=agent, task=task, check=_kind(detail), check_at=at, check_ok=ok)]
        return [] if bad else [TaskEvidence(ts=ts, agent=agent, task=task, committed=True)]

    def error(self, call_id: str | None, tool: str, task: str, ts: float, agent: str) -> list[TaskEvidence]:
        """A tool's call failed (an error, or the rules refused it): left unresolved until the same tool (family)
        succeeds in the task."""
        out = self.result(call_id, tool, ts, agent, True, str) if call_id in self.watched else []
        family = WORDS.families.get(tool, tool)
        erred = self.erred.get(task)
        if erred is None:
            erred = self.erred[task] = set()
            if len(self.erred) > KEPT:
                self.erred.pop(next(iter(self.erred)))
        if family not in erred:
            erred.add(family)
            out.append(TaskEvidence(ts=ts, agent=agent, task=task, unresolved_errors=len(erred)))
        return out

    def _resolved(self, task: str, family: str, ts: float, agent: str) -> list[TaskEvidence]:
        erred = self.erred.get(task)
        if erred is None or family not in erred:
            return []
        erred.discard(family)
        return [TaskEvidence(ts=ts, agent=agent, task=task, unresolved_errors=len(erred))]

    @staticmethod
    def _remember(kept: dict, key: str, value) -> None:
        if len(kept) >= KEPT:
            for old in list(kept)[: KEPT // 2]:
                del kept[old]
        kept[key] = value


def _ending(value: str) -> Ending:
    return value  # type: ignore[return-value]  # one of Ending: set only by the parser


def _kind(value: str) -> CheckKind:
    return value  # type: ignore[return-value]  # a key of CHECKS, checked by config when overridden
