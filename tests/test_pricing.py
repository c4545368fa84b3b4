"""Token cost: exactly what genai-prices' calc_price says, at a fraction of its cost."""

import random
from datetime import UTC, datetime

import pytest
from genai_prices import Usage, calc_price

from agentmon.store.pricing import NANO, Pricer

MODELS = ["claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1", "gpt-4o-mini", "gemini-2.5-pro"]
TS = 1_780_000_000.0


@pytest.mark.parametrize("model", MODELS)
def test_matches_calc_price_across_tiers(model):
    pricer = Pricer()
    rng = random.Random(model)
    when = datetime.fromtimestamp(TS, tz=UTC)
    for _ in range(200):
        # totals on both sides of the 200k-token tier some models have
        i, o = rng.randint(0, 300_000), rng.randint(0, 20_000)
        r, w = rng.choice([0, rng.randint(0, 100_000)]), rng.choice([0, rng.randint(0, 10_000)])
        expected = calc_price(
            Usage(input_tokens=i + r + w, output_tokens=o, cache_read_tokens=r, cache_write_tokens=w),
            model,
            genai_request_timestamp=when,
        ).total_price
        assert pricer.cost_nanos(model, TS, i, o, r, w) == pytest.approx(float(expected) * NANO, abs=1)


def test_tier_applies_per_request_not_to_a_sum():
    pricer = Pricer()
    small = pricer.cost_nanos("claude-sonnet-4-5", TS, 150_000, 0)
    big = pricer.cost_nanos("claude-sonnet-4-5", TS, 300_000, 0)
    assert big > 2 * small  # above 200k the whole request pays the higher rate


def test_unknown_model_is_unpriced_not_guessed():
    assert Pricer().cost_nanos("in-house-model-x", TS, 1000, 1000) is None


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"])
def test_one_hour_cache_writes_cost_what_genai_prices_says(model):
    pricer = Pricer()
    when = datetime.fromtimestamp(TS, tz=UTC)
    expected = calc_price(
        Usage(input_tokens=100 + 5000, output_tokens=50, cache_write_tokens=5000, cache_write_1h_tokens=3000),
        model,
        genai_request_timestamp=when,
    ).total_price
    got = pricer.cost_nanos(model, TS, 100, 50, 0, 5000, 3000)
    assert got == pytest.approx(float(expected) * NANO, abs=1)
    assert got > pricer.cost_nanos(model, TS, 100, 50, 0, 5000)  # an hour costs more than five minutes


def _price_in_a_process(cache_home, models) -> dict:
    """Prices in a fresh interpreter: the costs, and whether genai-prices had to be loaded."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys\nfrom agentmon.store.pricing import Pricer\np = Pricer()\n"
        f"costs = {{m: [p.cost_nanos(m, {TS}, i, 300, 2000, 500) for i in (100, 250_000)] for m in {models!r}}}\n"
        "p.save()\nprint(json.dumps({'costs': costs, 'loaded': 'genai_prices' in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
    ).stdout
    return json.loads(out)


def test_fixed_prices_are_kept_between_runs_so_later_runs_never_load_genai_prices(tmp_path):
    models = ["claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o-mini", "in-house-model-x"]
    first = _price_in_a_process(tmp_path, models)
    second = _price_in_a_process(tmp_path, models)
    assert first["loaded"] and not second["loaded"]
    assert second["costs"] == first["costs"]
    assert first["costs"]["in-house-model-x"] == [None, None]
    (cache_file,) = (tmp_path / "agentmon").glob("genai-prices-*.json")
    cache_file.write_text("{not json")  # a damaged cache only costs a reload
    assert _price_in_a_process(tmp_path, models)["costs"] == first["costs"]


def test_a_model_priced_by_date_is_asked_of_genai_prices_every_run(tmp_path):
    model = "claude-opus-4-6"  # genai-prices gives it a list of conditional prices
    first = _price_in_a_process(tmp_path, [model])
    second = _price_in_a_process(tmp_path, [model])
    assert second["loaded"] and second["costs"] == first["costs"]
    when = datetime.fromtimestamp(TS, tz=UTC)
    expected = calc_price(
        Usage(input_tokens=100 + 2000 + 500, output_tokens=300, cache_read_tokens=2000, cache_write_tokens=500),
        model,
        genai_request_timestamp=when,
    ).total_price
    assert first["costs"][model][0] == pytest.approx(float(expected) * NANO, abs=1)
