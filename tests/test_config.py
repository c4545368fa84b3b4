"""agentmon.toml: the database and the default sources; a bad file is a clear error."""

import pytest

from agentmon import config
from agentmon.errors import AgentmonError


@pytest.fixture
def cfg_file(tmp_path, monkeypatch):
    path = tmp_path / "agentmon.toml"
    monkeypatch.setenv("AGENTMON_CONFIG", str(path))
    monkeypatch.delenv("AGENTMON_DB", raising=False)
    return path


def test_db_and_sources_relative_to_the_file(cfg_file, tmp_path):
    (tmp_path / "logs").mkdir()
    cfg_file.write_text('db = "data/a.db"\n[sources]\npaths = ["logs"]\n')
    cfg = config.load()
    assert config.db_path(None, cfg) == tmp_path / "data" / "a.db"
    assert config.source_paths([], cfg).local == [tmp_path / "logs"]
    assert config.db_path("x.db", cfg).name == "x.db"  # a flag wins
    assert config.source_paths([str(tmp_path)], cfg).local == [tmp_path]


def test_idle_minutes(cfg_file):
    cfg_file.write_text("[sources]\nidle_minutes = 12.5\n")
    assert config.load().idle_minutes == 12.5


def test_environment_beats_the_file(cfg_file, tmp_path, monkeypatch):
    cfg_file.write_text('db = "a.db"\n')
    monkeypatch.setenv("AGENTMON_DB", str(tmp_path / "env.db"))
    assert config.db_path(None, config.load()) == tmp_path / "env.db"


@pytest.mark.parametrize(
    "text, message",
    [
        ('db = "a.db"\ndatabase = "b.db"\n', "unknown setting `database`"),
        ('[sources]\npath = ["x"]\n', "unknown setting `sources.path`"),
        ("db = 3\n", "`db` must be a str"),
        ("[sources]\npaths = [1]\n", "must be a list of strings"),
        ('[sources]\nidle_minutes = "soon"\n', "must be a number"),
        ("[sources]\nidle_minutes = 0\n", "must be above 0"),
        ('db = "a.db\n', "agentmon.toml"),
    ],
)
def test_bad_files_name_the_problem(cfg_file, text, message):
    cfg_file.write_text(text)
    with pytest.raises(AgentmonError, match=message.replace("[", r"\[").replace("`", "`")):
        config.load()


def test_missing_source_path_is_an_error(cfg_file):
    cfg_file.write_text('[sources]\npaths = ["nowhere"]\n')
    with pytest.raises(AgentmonError, match=r"source path .*nowhere does not exist"):
        config.source_paths([], config.load())


def test_limits_per_agent_by_glob_over_the_defaults(cfg_file):
    cfg_file.write_text(
        "[defaults]\ntask_success_rate = 0.9\nmin_tasks = 50\n"
        '[agents."refund-*"]\nsuccess = "no_human_step"\ninfra_cost_per_task = 0.01\n'
        '[agents."refund-eu"]\ntask_success_rate = 0.95\n'
    )
    cfg = config.load()
    eu, us, other = cfg.limits_for("refund-eu"), cfg.limits_for("refund-us"), cfg.limits_for("support")
    assert (eu.task_success_rate, eu.success, eu.min_tasks) == (0.95, "no_human_step", 50)
    assert (us.task_success_rate, us.infra_cost_per_task) == (0.9, 0.01)
    assert (other.success, other.min_tasks, other.autonomy_rate) == ("outcome", 50, 0.70)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[defaults]\ntask_success_rate = 85\n",
            r"agentmon.toml:2: `defaults.task_success_rate` is a share between 0 and 1",
        ),
        ('[defaults]\n\nsucces = "outcome"\n', r"agentmon.toml:3: unknown setting `defaults.succes`"),
        ('[agents."a*"]\nsuccess = "vibes"\n', r"agentmon.toml:2: `agents.\"a\*\".success` must be one of outcome"),
        (
            "[defaults]\ncalibration_min_agreement = 90\n",
            r"agentmon.toml:2: `defaults.calibration_min_agreement` is a share between 0 and 1",
        ),
        (
            '[agents."claude-code:*"]\ncalibration_min_labels = 0\n',
            r"agentmon.toml:2: `agents.\"claude-code:\*\".calibration_min_labels` must be at least 1",
        ),
    ],
)
def test_bad_limits_name_file_line_and_key(cfg_file, text, message):
    cfg_file.write_text(text)
    with pytest.raises(AgentmonError, match=message):
        config.load()


def test_success_definitions_and_infrastructure_cost_change_the_numbers(cfg_file, tmp_path):
    import json
    import subprocess
    import sys

    from conftest import FIXTURES

    db = tmp_path / "c.db"
    cfg_file.write_text("")
    subprocess.run(
        [sys.executable, "-m", "agentmon.cli", "ingest", str(FIXTURES / "native"), "--db", str(db)],
        check=True,
        capture_output=True,
    )

    def refund(toml: str) -> dict:
        cfg_file.write_text(toml)
        out = subprocess.run(
            [sys.executable, "-m", "agentmon.cli", "status", "--json", "--db", str(db)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return next(a for a in json.loads(out)["agents"] if a["agent"] == "refund-agent")

    assert refund("")["successes"] == 2  # r1 and r3 said success
    assert refund('[agents."refund-*"]\nsuccess = "no_escalation"\n')["successes"] == 2  # neither escalated
    strict = refund('[agents."refund-*"]\nsuccess = "no_human_step"\ninfra_cost_per_task = 0.01\n')
    assert strict["successes"] == 1  # r3 asked a human to confirm
    assert strict["cost_usd"] == pytest.approx(0.047 + 4 * 0.01)
    assert strict["cost_per_successful_task"] == pytest.approx(0.087)
