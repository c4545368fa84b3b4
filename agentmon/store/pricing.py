"""Token cost through genai-prices, fast enough for ingest.

genai-prices' `calc_price` costs about 90 µs a call. Within one price regime
(the tier set by total input tokens) a model's price is linear in each token
count, so for each (model, price set, regime) we ask genai-prices five
questions once and derive the per-token rates exactly; every later call is a
dot product. tests/test_pricing.py checks the result against `calc_price`.
Reasoning tokens are a part of the output tokens, as genai-prices counts them: a model with a
reasoning price charges them at that price instead of the output price, any other at the output
price. What a reasoning token costs beyond an output token is asked only when a call has some.
For a model with one fixed price those rates are also kept between runs
(agentmon.store.price_cache), so that most runs never load genai-prices at all.
"""

from __future__ import annotations

import fnmatch
from bisect import bisect_left
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from agentmon.store import price_cache
from agentmon.store.price_cache import CONDITIONAL, UNKNOWN, PriceCache

NANO = 1_000_000_000  # costs are kept as integer nano-dollars: sums stay exact


class CustomPrice(NamedTuple):
    """agentmon.toml's `[prices."glob"]`: USD per million tokens, for the models genai-prices does not know
    (fine-tunes, self-hosted models). Cache reads and writes cost as input unless given."""

    glob: str
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def rates(self) -> tuple[float, ...]:
        """(base, input, output, cache read, cache write, 1 h cache write) in nano-dollars per token."""
        per = NANO / 1e6
        read = self.input if self.cache_read is None else self.cache_read
        write = self.input if self.cache_write is None else self.cache_write
        return (0.0, self.input * per, self.output * per, read * per, write * per, write * per)


class Pricer:
    """Prices LLM calls in nano-dollars; None for a model neither genai-prices nor `custom` knows."""

    def __init__(self, cache_path: Path | bool | None = True, custom: tuple[CustomPrice, ...] = ()) -> None:
        self.custom = custom  # consulted only for a model genai-prices does not know, the first glob matching
        self._custom_rates: dict[str, tuple[float, ...] | None] = {}
        self._cache_path = cache_path  # True: the user cache dir; None: keep nothing between runs
        self._cache: PriceCache | None = None  # loaded at the first price asked: a run with nothing new asks none
        self._models: dict[str, tuple | None] = {}  # model name -> (provider, model info) or None
        self._prices: dict[tuple[str, int], object] = {}  # (model, hour) -> ModelPrice
        self._rates: dict[tuple[int, int], tuple[float, ...]] = {}  # (id(ModelPrice), regime) -> rates
        self._thresholds: dict[int, list[int]] = {}
        self._keep: list[object] = []  # keeps ModelPrice objects alive so their ids stay unique
        self._reasoning: dict[tuple[str, int, int], float] = {}  # (model, hour, regime) -> beyond an output token

    def cost_nanos(
        self,
        model: str,
        ts: float,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> int | None:
        """Cost of one API request. `input_tokens` excludes cache tokens (Anthropic's
        convention); genai-prices wants the total, converted here and only here. `reasoning_tokens`
        are of `output_tokens` (at most all of them)."""
        total_input = input_tokens + cache_read_tokens + cache_write_tokens
        fixed = self._fixed(model, ts)
        if fixed == UNKNOWN:
            rates = self._custom(model)
            if rates is None:
                return None
            fixed = [[], [rates]]
            reasoning_tokens = 0  # priced as output: a price of one's own has no reasoning rate
        if fixed != CONDITIONAL:
            thresholds, regimes = fixed
            regime = bisect_left(thresholds, total_input)  # tiers apply above their start
            rates = regimes[regime]
        else:
            price = self._model_price(model, ts)
            if price is None:
                return None
            thresholds = self._thresholds[id(price)]
            regime = bisect_left(thresholds, total_input)
            rates = self._rates.get((id(price), regime))
            if rates is None:
                rates = self._rates[(id(price), regime)] = self._derive(model, ts, thresholds, regime)
        base, per_input, per_output, per_read, per_write, per_write_1h = rates
        write_1h = min(cache_write_1h_tokens, cache_write_tokens)
        extra = 0.0
        if reasoning_tokens:  # rare: most calls report none, and most models price them as output
            extra = self._reasoning_extra(model, ts, thresholds, regime) * min(reasoning_tokens, output_tokens)
        return round(
            base
            + per_input * input_tokens
            + per_output * output_tokens
            + per_read * cache_read_tokens
            + per_write * (cache_write_tokens - write_1h)
            + per_write_1h * write_1h
            + extra
        )

    def _custom(self, model: str) -> tuple[float, ...] | None:
        if model not in self._custom_rates:
            found = next((p for p in self.custom if fnmatch.fnmatchcase(model, p.glob)), None)
            self._custom_rates[model] = found.rates() if found else None
        return self._custom_rates[model]

    def _reasoning_extra(self, model: str, ts: float, thresholds: list[int], regime: int) -> float:
        """What a reasoning token costs beyond an output token, in nano-dollars (0 for a model
        without a reasoning price), asked of genai-prices once per (model, hour, regime)."""
        key = (model, int(ts // 3600), regime)
        extra = self._reasoning.get(key)
        if extra is None:
            from genai_prices import Usage, calc_price

            r = 1 if regime == 0 else thresholds[regime - 1] + 1
            when = _utc(ts)
            plain, reasoned = (
                float(
                    calc_price(
                        Usage(input_tokens=r, output_tokens=1, **({"output_reasoning_tokens": 1} if k else {})),
                        model,
                        genai_request_timestamp=when,
                    ).total_price
                )
                * NANO
                for k in (0, 1)
            )
            extra = self._reasoning[key] = reasoned - plain
        return extra

    def _fixed(self, model: str, ts: float):
        """UNKNOWN, CONDITIONAL (priced by date through genai-prices), or a fixed price's
        [tier thresholds, rates of each regime]: from the cache, else worked out once and cached."""
        cache = self._cache
        if cache is None:
            path = price_cache.default_path() if self._cache_path is True else self._cache_path or None
            cache = self._cache = PriceCache(path)
        entry = cache.models.get(model)
        if entry is None:
            entry = self._fixed_entry(model, ts)
            cache.put(model, entry)
        return entry

    def _fixed_entry(self, model: str, ts: float):
        from genai_prices.types import ModelPrice

        self._model_price(model, ts)
        found = self._models[model]
        if found is None:
            return UNKNOWN
        if not isinstance(found[1].prices, ModelPrice):
            return CONDITIONAL
        thresholds = self._thresholds[id(found[1].prices)]
        return [thresholds, [self._derive(model, ts, thresholds, r) for r in range(len(thresholds) + 1)]]

    def save(self) -> None:
        """Keep what this run learned about fixed prices for the next run."""
        if self._cache is not None:
            self._cache.save()

    def _model_price(self, model: str, ts: float):
        key = (model, int(ts // 3600))
        price = self._prices.get(key, False)
        if price is not False:
            return price
        if model not in self._models:
            # Imported here, not at the top: it takes 90 ms, and a run with nothing new never prices.
            from genai_prices.data_snapshot import get_snapshot

            try:
                self._models[model] = get_snapshot().find_provider_model(model, None, None, None)
            except LookupError:
                self._models[model] = None
        found = self._models[model]
        price = None
        if found is not None:
            from genai_prices.types import TieredPrices

            price = found[1].get_prices(_utc(ts))
            if id(price) not in self._thresholds:
                self._keep.append(price)
                self._thresholds[id(price)] = sorted(
                    {
                        tier.start
                        for value in vars(price).values()
                        if isinstance(value, TieredPrices)
                        for tier in value.tiers
                    }
                )
        self._prices[key] = price
        return price

    def _derive(self, model: str, ts: float, thresholds: list[int], regime: int) -> tuple[float, ...]:
        # A total input inside the regime with room for one more token.
        from genai_prices import Usage, calc_price

        r = 1 if regime == 0 else thresholds[regime - 1] + 1
        when = _utc(ts)

        def price(input_total=r, output=0, read=0, write=0, write_1h=0) -> float:
            usage = Usage(
                input_tokens=input_total,
                output_tokens=output,
                cache_read_tokens=read,
                cache_write_tokens=write,
                **({"cache_write_1h_tokens": write_1h} if write_1h else {}),
            )
            return float(calc_price(usage, model, genai_request_timestamp=when).total_price) * NANO

        p0 = price()
        per_input = price(input_total=r + 1) - p0
        base = p0 - per_input * r
        per_output = price(output=1) - p0
        per_read = price(read=1) - p0 + per_input  # a read replaces an uncached input token
        per_write = price(write=1) - p0 + per_input
        try:
            per_write_1h = price(write=1, write_1h=1) - p0 + per_input
        except (LookupError, ValueError):  # no one-hour price known: the five-minute one
            per_write_1h = per_write
        return base, per_input, per_output, per_read, per_write, per_write_1h


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
