"""The core stands without the UI: no module outside agentmon/tui imports textual."""

import pkgutil
import subprocess
import sys

import agentmon

CORE = sorted(
    m.name for m in pkgutil.walk_packages(agentmon.__path__, "agentmon.") if not m.name.startswith("agentmon.tui")
)


def test_core_modules_exist():
    assert {"agentmon.store.writer", "agentmon.ingest.ingester", "agentmon.report.metrics", "agentmon.cli"} <= set(CORE)


def test_no_core_module_imports_textual():
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == ""
