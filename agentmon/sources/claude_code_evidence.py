"""How a Claude Code task went, as a careful reader would look for it (docs/success.md): how the assistant's
last turn ended, how the session's next prompt relates to the task, the last test / build / lint / type-check
run and whether it passed, the todo list's completion, a successful commit. (Tool errors left unresolved are
folded by the store from the tool calls themselves: agentmon.store.taskstate._fold_tools.)

Only derived values leave this module (`TaskEvidence`: enums, counts, booleans, a prompt's hash): a prompt's
text is read here to hash it and to match the word lists, never kept. The word lists and command patterns are
data (WORDS), replaced key by key by agentmon.toml's `[evidence]` (`use`).

The parser (agentmon.sources.claude_code) calls in where it already branches: at a tool use by name, at the
few tool results it looks at, at a prompt, at an assistant line of the main conversation. What is noted is
handed on at the end of each chunk (`flush`), one event per task, never once per line.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from agentmon.events import LAST_PROMPT, WATCH, SessionFact, TaskEvidence

# --- the data: word lists and command patterns (docs/success.md lists them; agentmon.toml's [evidence] replaces
# any of them) -----------------------------------------------------------------------------------------------

# Phrases of a next prompt (lowercase words; a prompt is matched lowercased, its punctuation made blanks, in its
# first 120 characters). A correction says the task went wrong, at the start or anywhere:
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
}
PROMPT_CHARS = 120  # of a prompt matched against the word lists
BACKGROUND = "Command running in background"  # a Bash result that is no verdict on its command
KEPT = 20_000  # tasks and calls remembered; past it the older half goes
# The fields whose observation time an event carries apart from its own (a check carries its call's, check_at).
TIMED: dict[str, str] = {
    "ending": "ending_at",
    "next_prompt": "next_prompt_at",
    "todos_total": "todos_at",
}


@dataclass
class Words:
    """The word lists and patterns, ready to match."""

    correction_starts: tuple[str, ...]  # each between blanks, as the prompt's words are
    correction_anywhere: tuple[str, ...]
    thanks_starts: tuple[str, ...]
    # correction_anywhere by first word: a prompt has a phrase only if it has the phrase's first word, so one
    # set test of its words skips the list for most prompts, and the rest try only the phrases that may match.
    anywhere_by_first: dict[str, tuple[str, ...]]
    # The command patterns, compiled at their first use (most runs meet no command that needs them, and
    # compiling them takes longer than the rest of importing this module): checks (every kind's patterns in
    # one, a named group per kind, in CHECKS' order), wrappers, commit.
    sources: tuple[str, str, str]
    # The programs the check and commit patterns start with: a command naming none of them is no check and no
    # commit, known without splitting it (most commands). None: a pattern does not spell its program out.
    programs: frozenset[bytes] | None = None
    compiled: tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]] | None = None

    def patterns(self) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
        """(checks, wrappers, commit), compiled."""
        if self.compiled is None:
            checks, wrappers, commit = self.sources
            self.compiled = (re.compile(checks), re.compile(wrappers), re.compile(commit))
        return self.compiled


def compile_words(words: dict[str, Any]) -> Words:
    """`words` (DEFAULT_WORDS with agentmon.toml's keys over it), made ready; a bad regex raises re.error.
    Phrases are matched as substrings of the prompt's words (no regex: a search of dozens of patterns through
    300 characters took 50 µs a prompt), and commands by patterns anchored where each command starts."""

    def phrases(items) -> tuple[str, ...]:
        return tuple(f" {_words(p)} " for p in items if _words(p))

    by_first: dict[str, tuple[str, ...]] = {}
    for phrase in phrases(words["correction_anywhere"]):
        first = phrase.split()[0]
        by_first[first] = (*by_first.get(first, ()), phrase)

    def one(patterns) -> str:
        return "|".join(f"(?:{p})" for p in patterns) or r"(?!)"

    checks = "|".join(f"(?P<{kind}>{one(patterns)})" for kind, patterns in words["checks"].items() if patterns)
    programs: set[str] | None = set()
    for pattern in [*(p for patterns in words["checks"].values() for p in patterns), *words["commit"]]:
        found = _programs(pattern)
        if found is None or programs is None:
            programs = None
        else:
            programs |= found
    return Words(
        phrases(words["correction_starts"]),
        phrases(words["correction_anywhere"]),
        phrases(words["thanks_starts"]),
        by_first,
        (checks or r"(?!)", rf"(?:(?:{one(words['wrappers'])})\s+)*", one(words["commit"])),
        frozenset(p.encode() for p in programs) if programs is not None else None,
    )


_PROGRAM = re.compile(r"\(((?:[\w/.-]|\\[./-])+(?:\|(?:[\w/.-]|\\[./-])+)*)\)|((?:[\w/.-]|\\[./-])+)")


def _programs(pattern: str) -> set[str] | None:
    """The program names a command pattern starts with (`pytest\\b`: pytest; `(npm|pnpm) test`: npm, pnpm), or
    None when it does not start with them spelled out."""
    m = _PROGRAM.match(pattern)
    if m is None or pattern[m.end() : m.end() + 1] in ("?", "*", "+", "{"):
        return None
    return {word.replace("\\", "") for word in (m.group(1) or m.group(2)).split("|")}


_PUNCTUATION = bytes.maketrans(b'!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~', b" " * 31)


def _word_list(text: str) -> list[str]:
    """Lowercase words, ASCII punctuation made blanks, a typographic apostrophe made a plain one: what phrases are
    matched against. (As bytes: str.translate takes 30 µs on a prompt with one non-ASCII character, this 6.)"""
    return text.lower().replace("\u2019", "'").encode().translate(_PUNCTUATION).decode().split()


def _words(text: str) -> str:
    """The words of `text` (_word_list) between single blanks."""
    return " ".join(_word_list(text))


WORDS = compile_words(DEFAULT_WORDS)


def use(overrides: dict[str, Any]) -> None:
    """agentmon.toml's `[evidence]`: each key given replaces the default list (`checks` kind by kind)."""
    global WORDS
    merged = dict(DEFAULT_WORDS)
    for key, value in overrides.items():
        merged[key] = {**CHECKS, **value} if key == "checks" else value
    WORDS = compile_words(merged)
    WORDS.patterns()  # a bad pattern is an error now, where agentmon.toml is read


# --- the derived values -----------------------------------------------------------------------------------------


def prompt_hash(text: str) -> str:
    """A prompt's identity without its text, without its outer blanks: CRC-32 and Adler-32 of it, 16 hex digits.
    (Enough to tell a session's prompts apart; hashlib would load OpenSSL, 7 ms of every cold start.)"""
    data = text.strip().encode()
    return (zlib.crc32(data) << 32 | zlib.adler32(data)).to_bytes(8, "big").hex()  # each as 8 hex digits


def relation(text: str, previous_hash: str | None) -> tuple[str, str]:
    """(how a prompt relates to the task before it, the prompt's hash): a repeat (the same prompt), a
    correction, thanks, else a new request. A correction wins over thanks ("thanks, but it still fails")."""
    h = prompt_hash(text)
    if h == previous_hash:
        return "repeat", h
    found = _word_list(text[:PROMPT_CHARS])
    said = f" {' '.join(found)} "
    w = WORDS
    if said.startswith(w.correction_starts):
        return "correction", h
    by_first = w.anywhere_by_first
    if not by_first.keys().isdisjoint(found):
        for first in by_first.keys() & found:
            for phrase in by_first[first]:
                if phrase in said:
                    return "correction", h
    if said.startswith(w.thanks_starts):
        return "thanks", h
    return "new", h


_CHAIN = re.compile(r"&&|\|\||[;|\n]")
# What ends a program's name in a tool use's input, as JSON: a pattern's `\b` ends it at any sign and any blank
# (its wrappers' `\s+` and str.strip take Unicode ones too, written as is: every byte past ASCII), and at a
# control character. Not at `_`, a word's.
_SIGNS = bytes(b for b in range(256) if b > 127 or (not chr(b).isalnum() and b != ord("_")))
_SEPARATORS = bytes.maketrans(_SIGNS, b" " * len(_SIGNS))
_ESCAPE = re.compile(rb"\\(?:u[0-9a-fA-F]{4}|.)")  # of JSON: `\n`, `\t`, `\"`, `\u00a0`: each separates words
_CHAINED = re.compile(r"[;&|\n]")


def _may_name(programs: frozenset[bytes], said: bytes) -> bool:
    """Whether a command (its input's JSON, escapes made blanks) may start a check or a commit: one of its words is a
    program the patterns name (`pytest-3`, `pytest.exe`: a sign ends the word), or it holds a name that has signs
    (`vue-tsc`, `./gradlew`). A quick look, not the match: a yes is decided by the patterns."""
    plain, signed = _names(programs)
    return not plain.isdisjoint(said.translate(_SEPARATORS).split()) or any(name in said for name in signed)


@functools.lru_cache(maxsize=4)
def _names(programs: frozenset[bytes]) -> tuple[frozenset[bytes], tuple[bytes, ...]]:
    """The programs' names that are one word, and those that have signs."""
    signed = tuple(p for p in programs if p.translate(_SEPARATORS) != p)
    return programs.difference(signed), signed


def commands(command: str) -> list[str]:
    """The commands of a chain, each from where its program starts (after WRAPPERS)."""
    wrappers = WORDS.patterns()[1]
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
    match = WORDS.patterns()[0].match
    for part in reversed(parts):
        if (m := match(part)) is not None:
            return m.lastgroup
    return None


def commits(parts: list[str]) -> bool:
    match = WORDS.patterns()[2].match
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
    """What the parser remembers between lines to derive a task's evidence. What a later line needs (a watched
    call waiting for its result, a session's latest prompt) is also handed to `remember` as a SessionFact, stored
    with the line that taught it, and given back by `restore` when the parser loads the session after a restart.

    Observations are noted per task and handed on once per chunk (`flush`), one event per task: most lines
    change some evidence of their task, and an event per change would cost the store more than the lines."""

    def __init__(
        self, classify: Callable[[Any], str], remember: Callable[[SessionFact], object] = lambda _: None
    ) -> None:
        self.classify = classify  # the parser's: an assistant's last block -> its ending
        self.remember = remember
        # tool_use id -> (what its result decides, its task, the call's time, a check's kind or "", its session)
        self.watched: dict[str, tuple[str, str, float, str, str]] = {}
        # session -> (ts, task, agent, the ending or the assistant's last block): the main conversation's latest
        # state, set by the parser on each of its assistant lines, noted at a prompt or a chunk's end
        self.endings: dict[str, tuple[float, str, str, Any]] = {}
        self._pending: dict[tuple[str, str], list] = {}  # (agent, task) -> [latest ts, {field: value}]
        self._hashes: dict[str, tuple[str, str]] = {}  # session -> its latest prompt: (task, hash)
        self._prompted: dict[str, float] = {}  # sessions whose latest prompt is new since the last flush: when
        self._todos: dict[str, _Todos] = {}

    def reset(self) -> None:
        """Forget what was noted for a batch that failed to commit: its lines are read again."""
        self._pending.clear()
        self.endings.clear()
        self._prompted.clear()

    def _note(self, agent: str, task: str, ts: float, **fields: Any) -> None:
        """Fields observed at `ts`, sent with the task's next event: each with its own time where it has a slot
        for it (TIMED), so how the lines were split into chunks changes nothing stored."""
        pending = self._pending.get((agent, task))
        if pending is None:
            pending = self._pending[(agent, task)] = [ts, {}]
        elif ts > pending[0]:
            pending[0] = ts
        kept = pending[1]
        kept.update(fields)
        for name in fields:
            if (at := TIMED.get(name)) is not None:
                kept[at] = ts

    def _put(self, agent: str, task: str, ts: float, name: str, value: Any) -> None:
        """One field observed at `ts`, as `_note` keeps it (without building a dict of keywords: the calls at every
        prompt and turn)."""
        key = (agent, task)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = [ts, {}]
        elif ts > pending[0]:
            pending[0] = ts
        kept = pending[1]
        kept[name] = value
        if (at := TIMED.get(name)) is not None:
            kept[at] = ts

    def flush(self) -> list[TaskEvidence]:
        """What was noted since the last flush (the end of each chunk): an event per task."""
        for session in list(self.endings):
            self._end_turn(session)
        for session, ts in self._prompted.items():  # stored once per chunk, not per prompt
            if (latest := self._hashes.get(session)) is not None:
                self.remember(SessionFact(session, LAST_PROMPT, "", f"{latest[1]} {latest[0]}", ts))
        self._prompted.clear()
        out = [
            TaskEvidence(ts=ts, agent=agent, task=task, **fields)
            for (agent, task), (ts, fields) in self._pending.items()
        ]
        self._pending.clear()
        return out

    # --- how the last turn ended --------------------------------------------------------------------------

    def ended(self, session: str, ts: float, task: str, agent: str, ending: str) -> None:
        """The main conversation's latest state, where the parser sets it by a word (`interrupted`...)."""
        now = self.endings.get(session)
        if now is None or ts >= now[0]:
            self.endings[session] = (ts, task, agent, ending)

    def _end_turn(self, session: str) -> None:
        ts, task, agent, state = self.endings.pop(session)
        self._put(agent, task, ts, "ending", state if isinstance(state, str) else self.classify(state))

    # --- prompts ------------------------------------------------------------------------------------------

    def prompt(self, session: str, ts: float, task: str, agent: str, previous: str | None, text: str | None) -> None:
        """A new prompt: the task before it learns how it relates to it; the new task keeps the prompt's hash.
        A slash command (`text` None) is a new request."""
        if session in self.endings:  # the task before's last turn
            self._end_turn(session)
        if text is None:
            rel = "new"
        else:
            if previous is None:  # the session's first prompt: no task before it to relate to
                rel, h = "new", prompt_hash(text)
            else:
                # The previous prompt's hash, unless it is this prompt's own, read again (after a failed commit)
                last = self._hashes.get(session)
                rel, h = relation(text, last[1] if last is not None and last[0] != task else None)
            self._remember(self._hashes, session, (task, h))
            self._prompted[session] = ts
            self._put(agent, task, ts, "prompt_hash", h)
        if previous is not None:
            self._put(agent, previous, ts, "next_prompt", rel)

    def answer(self, ts: float, task: str, agent: str) -> None:
        """The person answered the assistant's question: the task goes on."""
        self._put(agent, task, ts, "next_prompt", "answer")

    # --- tool calls and their results ---------------------------------------------------------------------

    def tool_use(
        self, call_id: str, name: str, raw_input: bytes, ts: float, task: str, agent: str, main: bool, session: str = ""
    ) -> None:
        """A tool use: a check or a commit to watch, a todo list's state, a call that may resolve an error."""
        if name in COMMAND_TOOLS:
            # Most commands name no program of a check or a commit: their raw input says so, undecoded.
            programs = WORDS.programs
            # (JSON's escapes separate words too: `\n`, `\t`, `\"`. Replaced where not found, the input is kept.)
            said = bytes(raw_input)
            if b"\\" in said:
                said = _ESCAPE.sub(b" ", said)
            if programs is not None and not _may_name(programs, said):
                return
            command = _decode(_command, raw_input)
            if command is not None and command.command:
                parts = commands(command.command)
                kind = check_kind(parts)
                if kind is not None:
                    self._watch(call_id, ("check", task, ts, kind, session))
                    self._note(agent, task, ts, check=kind, check_at=ts, check_ok=None)
                elif commits(parts):
                    self._watch(call_id, ("commit", task, ts, "", session))
        elif name in TODO_TOOLS and main:
            counts = self._todo_counts(name, raw_input, task)
            if counts is not None:
                self._note(agent, task, ts, todos_done=counts[0], todos_total=counts[1])

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

    def result(self, call_id: str | None, ts: float, agent: str, is_error: bool, text: Callable[[], str]) -> None:
        """A watched call's result: a check passed or failed, a commit made. `text()`: the result's text ("Exit
        code N", a background run)."""
        watched = self.watched.pop(call_id, None) if call_id else None
        if watched is None:
            return
        what, task, at, detail, session = watched
        self.remember(SessionFact(session, WATCH, call_id, None, ts))  # type: ignore[arg-type]  # not None here
        said = text()
        bad = failed(is_error, said)
        if what == "check":
            ok = None if said.startswith(BACKGROUND) else not bad
            pending = self._pending.get((agent, task))
            if pending is not None and pending[1].get("check_at", at) > at:
                return  # a later check of the task was called before this one's result
            self._note(agent, task, ts, check=detail, check_at=at, check_ok=ok)
        elif not bad:
            self._note(agent, task, ts, committed=True)

    def error(self, call_id: str | None, ts: float, agent: str) -> None:
        """A tool's call failed: a watched check failed, a watched commit did not happen."""
        if call_id in self.watched:
            self.result(call_id, ts, agent, True, str)

    def _watch(self, call_id: str, watched: tuple[str, str, float, str, str]) -> None:
        self._remember(self.watched, call_id, watched)
        what, task, at, detail, session = watched
        self.remember(SessionFact(session, WATCH, call_id, msgspec.json.encode([what, task, at, detail]).decode(), at))

    # --- across restarts ----------------------------------------------------------------------------------

    def restore(self, session: str, kind: str, key: str, value: str, ts: float) -> None:
        """A fact `remember` was given, loaded with its session after a restart; what this run learnt is newer."""
        if kind == WATCH:
            try:
                what, task, at, detail = msgspec.json.decode(value)
            except (msgspec.DecodeError, ValueError):
                return  # not written by this version: the result will not be looked for
            self.watched.setdefault(key, (what, task, at, detail, session))
        elif kind == LAST_PROMPT:
            h, _, task = value.partition(" ")
            self._hashes.setdefault(session, (task, h))

    @staticmethod
    def _remember(kept: dict, key: str, value) -> None:
        if len(kept) >= KEPT:
            for old in list(kept)[: KEPT // 2]:
                del kept[old]
        kept[key] = value
