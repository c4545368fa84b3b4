"""The layers of agentmon, checked from each module's own imports: every `import` and `from`, at any depth
(a function-local import counts as much as a top-level one), read with `ast`, so the check is fast and
exact and needs nothing imported.

- **sources** turn lines into events and nothing else: of agentmon, a module in agentmon/sources/ imports
  only `agentmon.events`, `agentmon.errors` and its own package (`detect` asks `claude_code` what its
  first lines look like).
- **store** sits below everything that feeds or reads it: agentmon/store/ imports nothing of
  `agentmon.ingest`, `agentmon.sources`, `agentmon.report`, `agentmon.remote`, `agentmon.tui`, `agentmon.cli`.
- **report** reads, never writes. Precisely: it imports no layer that writes (`agentmon.ingest`,
  `agentmon.sources`, `agentmon.remote`), nothing above it (`agentmon.tui`, `agentmon.cli`), not the
  migrations (`agentmon.store.schema`), and of `agentmon.store.writer` only `connect` (a read-only
  connection; never the `Store` class, nor the module itself); and no SQL statement in it writes
  (INSERT, REPLACE, UPDATE, DELETE, CREATE, DROP, ALTER). It may read the store's definitions:
  `taskstate`'s columns, `pricing.NANO`, `sql` helpers.
- **UI**: nothing outside agentmon/tui/ imports textual or plotext. Also checked by importing every other
  module in a fresh interpreter, which catches a UI library pulled in through another package.

A broken rule is reported with the module, its line, the import (or statement) and the rule.
"""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import agentmon

PACKAGE_DIR = Path(agentmon.__file__).resolve().parent
UI_LIBRARIES = ("textual", "plotext")

SOURCES_RULE = "sources import nothing of agentmon but agentmon.events and agentmon.errors"
STORE_RULE = "the store imports nothing of ingest, sources, report, remote, tui or cli"
REPORT_RULE = "report never writes: no ingest, sources, remote, tui, cli, store.schema; of store.writer only connect"
REPORT_SQL_RULE = "report never writes: no SQL statement that changes the database"
UI_RULE = "nothing outside agentmon/tui imports textual or plotext"

SOURCES_MAY = ("agentmon.events", "agentmon.errors", "agentmon.sources")
STORE_MUST_NOT = tuple(f"agentmon.{p}" for p in ("ingest", "sources", "report", "remote", "tui", "cli"))
REPORT_MUST_NOT = tuple(f"agentmon.{p}" for p in ("ingest", "sources", "remote", "tui", "cli", "store.schema"))
WRITING_SQL = re.compile(
    r"\b(INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(?:TEMP\w*\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)|DROP\s+(?:TABLE|INDEX|VIEW|TRIGGER)|ALTER\s+TABLE)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Import:
    """One name a module imports: `import target` (name None) or `from target import name`."""

    line: int
    target: str
    name: str | None

    @property
    def reaches(self) -> str:
        """The dotted path it reaches: `from agentmon.store import writer` reaches agentmon.store.writer."""
        return f"{self.target}.{self.name}" if self.name else self.target

    def __str__(self) -> str:
        return f"from {self.target} import {self.name}" if self.name else f"import {self.target}"


def under(dotted: str, *packages: str) -> bool:
    return any(dotted == p or dotted.startswith(p + ".") for p in packages)


def imports_of(module: str, source: str, is_package: bool = False) -> list[Import]:
    """Every import in `source`, relative ones resolved against `module`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(parts + ([node.module] if node.module else []))
            found += [Import(node.lineno, base, alias.name) for alias in node.names]
    return found


def broken_rule(module: str, imp: Import) -> str | None:
    """The layer rule `imp`, imported by `module`, breaks, or None."""
    reaches = imp.reaches
    if under(module, "agentmon.sources") and under(reaches, "agentmon") and not under(reaches, *SOURCES_MAY):
        return SOURCES_RULE
    if under(module, "agentmon.store") and under(reaches, *STORE_MUST_NOT):
        return STORE_RULE
    if under(module, "agentmon.report"):
        if under(reaches, *REPORT_MUST_NOT):
            return REPORT_RULE
        if under(reaches, "agentmon.store.writer") and reaches != "agentmon.store.writer.connect":
            return REPORT_RULE
    if not under(module, "agentmon.tui") and under(reaches, *UI_LIBRARIES):
        return UI_RULE
    return None


def writing_sql(source: str) -> list[tuple[int, str]]:
    """The line and opening words of each SQL statement in `source` that writes (docstrings aside)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            match = WRITING_SQL.search(node.value)
            if match:
                found.append((node.lineno, match.group(0)))
    return found


def violations(modules: Iterable[tuple[str, str, bool]]) -> list[str]:
    """Each broken rule among `modules` (name, source, is a package), as one line naming all three."""
    found = []
    for module, source, is_package in modules:
        for imp in imports_of(module, source, is_package):
            rule = broken_rule(module, imp)
            if rule:
                found.append(f"{module}, line {imp.line}: `{imp}` breaks the rule: {rule}")
        if under(module, "agentmon.report"):
            for line, statement in writing_sql(source):
                found.append(f"{module}, line {line}: SQL `{statement} …` breaks the rule: {REPORT_SQL_RULE}")
    return found


def agentmon_modules() -> list[tuple[str, str, bool]]:
    """Every module of the agentmon package on disk: its dotted name, its source, whether it is a package."""
    modules = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = ["agentmon", *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules.append((name, path.read_text(encoding="utf-8"), is_package))
    return modules


def test_the_tree_keeps_its_layers():
    modules = agentmon_modules()
    assert {"agentmon.sources.native", "agentmon.store.writer", "agentmon.report.metrics"} <= {m[0] for m in modules}
    assert violations(modules) == [], "\n".join(violations(modules))


def test_a_forbidden_import_is_reported_with_its_module_line_and_rule():
    fake = [
        ("agentmon.sources.fake", "from agentmon.events import Event\nfrom agentmon.store.writer import Store", False),
        ("agentmon.store.fake", "def f():\n    from ..ingest import ingester\n", False),  # local, relative
        (
            "agentmon.report.fake",
            "from agentmon.store.writer import connect\nfrom agentmon.store.taskstate import AGG_COLUMNS\n"
            "from agentmon.store.writer import Store\nimport agentmon.store.writer\n"
            '"""INSERT INTO in a docstring is prose."""\n'
            'def label(conn):\n    conn.execute(f"UPDATE tasks SET outcome = {1}")\n',
            False,
        ),
        ("agentmon.report", "from . import metrics\nfrom .. import cli\n", True),
        ("agentmon.cli", "def main():\n    import textual.app\n", False),
        ("agentmon.tui.fake", "import textual\nimport plotext\n", False),
    ]
    assert violations(fake) == [
        f"agentmon.sources.fake, line 2: `from agentmon.store.writer import Store` breaks the rule: {SOURCES_RULE}",
        f"agentmon.store.fake, line 2: `from agentmon.ingest import ingester` breaks the rule: {STORE_RULE}",
        f"agentmon.report.fake, line 3: `from agentmon.store.writer import Store` breaks the rule: {REPORT_RULE}",
        f"agentmon.report.fake, line 4: `import agentmon.store.writer` breaks the rule: {REPORT_RULE}",
        f"agentmon.report.fake, line 7: SQL `UPDATE tasks SET …` breaks the rule: {REPORT_SQL_RULE}",
        f"agentmon.report, line 2: `from agentmon import cli` breaks the rule: {REPORT_RULE}",
        f"agentmon.cli, line 2: `import textual.app` breaks the rule: {UI_RULE}",
    ]


CORE = sorted(
    m.name for m in pkgutil.walk_packages(agentmon.__path__, "agentmon.") if not m.name.startswith("agentmon.tui")
)


def test_core_modules_exist():
    assert {"agentmon.store.writer", "agentmon.ingest.ingester", "agentmon.report.metrics", "agentmon.cli"} <= set(CORE)


def test_no_core_module_loads_a_ui_library_even_through_another_package():
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {UI_LIBRARIES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "", f"importing agentmon outside agentmon/tui loads {out.strip()}: {UI_RULE}"


def test_the_readme_layout_names_every_module():
    """The README's layout section drifted once (13 modules missing): every module is named in it."""
    repo = Path(__file__).resolve().parent.parent  # the clone: the installed package has no README beside it
    readme = (repo / "README.md").read_text()
    layout = readme[readme.index("Layout, in the order") :]
    layout = layout[: layout.index("\n## ")] if "\n## " in layout else layout
    missing = [
        str(path.relative_to(repo))
        for path in sorted((repo / "agentmon").rglob("*.py"))
        if path.name != "__init__.py"
        and path.parent.name not in ("tui", "simulate", "bench")  # named by their folder
        and f"`{path.stem}`" not in layout
        and f"{path.stem}.py" not in layout
    ]
    assert not missing, f"README.md's layout section does not name: {', '.join(missing)}"
