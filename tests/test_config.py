"""agentmon.toml: the database and the default sources; a bad file is a clear error."""

import pytest

from agentmon import config
from agentmon.store import AgentmonError


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
    assert config.source_paths([], cfg) == [tmp_path / "logs"]
    assert config.db_path("x.db", cfg).name == "x.db"  # a flag wins
    assert config.source_paths([tmp_path], cfg) == [tmp_path]


def test_idle_minutes(cfg_file):
    cfg_file.write_text("[sources]\nidle_minutes = 12.5\n")
    assert config.load().idle_minutes == 12.5


def test_environment_beats_the_file(cfg_file, tmp_path, monkeypatch):
    cfg_file.write_text('db = "a.db"\n')
    monkeypatch.setenv("AGENTMON_DB", str(tmp_path / "env.db"))
    assert config.db_path(None, config.load()) == tmp_path / "env.db"


@pytest.mark.parametrize("text, message", [
    ('db = "a.db"\ndatabase = "b.db"\n', "unknown setting `database`"),
    ('[sources]\npath = ["x"]\n', "unknown setting `sources.path`"),
    ('db = 3\n', "`db` must be a str"),
    ('[sources]\npaths = [1]\n', "must be a list of strings"),
    ('[sources]\nidle_minutes = "soon"\n', "must be a number"),
    ('[sources]\nidle_minutes = 0\n', "must be above 0"),
    ('db = "a.db\n', "agentmon.toml"),
])
def test_bad_files_name_the_problem(cfg_file, text, message):
    cfg_file.write_text(text)
    with pytest.raises(AgentmonError, match=message.replace("[", r"\[").replace("`", "`")):
        config.load()


def test_missing_source_path_is_an_error(cfg_file):
    cfg_file.write_text('[sources]\npaths = ["nowhere"]\n')
    with pytest.raises(AgentmonError, match="source path .*nowhere does not exist"):
        config.source_paths([], config.load())
