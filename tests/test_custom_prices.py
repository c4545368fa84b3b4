"""`[prices."glob"]` in agentmon.toml: per-million-token prices for the models genai-prices does not know
(fine-tunes, self-hosted models); genai-prices stays the source for every model it knows."""

import json
import os
import subprocess
import sys

import pytest
from conftest import agents


def run(*args, config) -> subprocess.CompletedProcess:
    env = {**os.environ, "AGENTMON_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "agentmon.cli", *map(str, args)], capture_output=True, text=True, env=env
    )


def call(model: str, task: str, agent: str = "bot") -> str:
    """One request of a task, and the task's end (spend counts at the end)."""
    end = {"ts": 1_780_000_001, "agent": agent, "event": "task_end", "task": task, "outcome": "success"}
    return (
        json.dumps(
            {
                "ts": 1_780_000_000,
                "agent": agent,
                "event": "llm_call",
                "task": task,
                "model": model,
                "input_tokens": 1_000_000,
                "output_tokens": 100_000,
                "cache_read_tokens": 2_000_000,
            }
        )
        + "\n"
        + json.dumps(end)
    )


def test_a_glob_prices_the_models_genai_prices_does_not_know(tmp_path, db):
    config = tmp_path / "agentmon.toml"
    config.write_text(
        '[prices."acme/ft-*"]\ninput = 2.0\noutput = 8.0\ncache_read = 0.2\n'
        '[prices."claude-*"]\ninput = 1000\noutput = 1000\n'  # genai-prices knows these: never used
    )
    log = tmp_path / "a.jsonl"
    lines = [call("acme/ft-refunds-v3", "t1", "ft-bot"), call("llama-local-70b", "t2", "local-bot")]
    lines.append(call("claude-sonnet-4-5", "t3", "claude-bot"))
    log.write_text("\n".join(lines) + "\n")
    assert run("ingest", "--db", db, log, config=config).returncode == 0
    by_agent = agents(db)
    assert by_agent["ft-bot"]["cost_usd"] == pytest.approx(2.0 + 0.8 + 0.4)  # 1M in, 100k out, 2M cache reads
    assert by_agent["ft-bot"]["unpriced_llm_calls"] == 0
    assert by_agent["local-bot"]["unpriced_llm_calls"] == 1  # no glob matches: unpriced, never $0
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=3_000_000, cache_read_tokens=2_000_000, output_tokens=100_000)
    assert by_agent["claude-bot"]["cost_usd"] == pytest.approx(
        float(calc_price(usage, "claude-sonnet-4-5").total_price)
    )


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ('[prices."x-*"]\ninput = 1.0\n', '`prices."x-*".output` is required'),
        ('[prices."x-*"]\ninput = 1.0\noutput = -2\n', '`prices."x-*".output` is USD per million tokens, not -2'),
        ('[prices."x-*"]\ninput = 1.0\noutput = 2\nreasoning = 3\n', 'unknown setting `prices."x-*".reasoning`'),
        ('[prices]\n"x-*" = 3\n', "prices.x-* must be a table"),
    ],
)
def test_a_wrong_price_is_an_error_that_names_it(tmp_path, db, section, says):
    config = tmp_path / "agentmon.toml"
    config.write_text(section)
    out = run("status", "--db", db, config=config)
    assert out.returncode == 1 and says in out.stderr, out.stderr
