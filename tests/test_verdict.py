"""Verdict rules, table-driven; Wilson bounds against published values; drift's false alarms."""

import random

import pytest

from agentmon.report.verdict import Evidence, Limits, drift, two_proportion_z, verdict, wilson


@pytest.mark.parametrize(
    "k, n, lo, hi",
    [
        # Wilson score intervals at 95% (Newcombe 1998, table I; Agresti & Coull 1998)
        (0, 10, 0.0, 0.2775),
        (1, 10, 0.0179, 0.4042),
        (5, 10, 0.2366, 0.7634),
        (9, 10, 0.5958, 0.9821),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_against_published_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-4)


def healthy(**changes) -> Evidence:
    """500 tasks comfortably inside every default limit."""
    e = Evidence(
        labeled=500,
        successes=475,
        ended=500,
        autonomous=450,
        seen=500,
        escalated=15,
        tool_calls=2000,
        tool_errors=20,
        asked=200,
        rejections=6,
        eval_pass_rate=0.95,
    )
    for k, v in changes.items():
        setattr(e, k, v)
    return e


@pytest.mark.parametrize(
    "name, evidence, limits, expected, reason",
    [
        ("healthy", healthy(), Limits(), "go", "every limit met with 95% confidence over 500 tasks"),
        ("too few tasks", healthy(labeled=12, ended=12), Limits(), "hold", "too few tasks: 12 of 30 needed"),
        ("too few labeled", healthy(labeled=12, unlabeled=40), Limits(), "hold", "too few labeled tasks: 12 of 30"),
        ("success clearly low", healthy(successes=380), Limits(), "no-go", "success 76.0% (95% CI 72.1–79.5%) below"),
        (
            "success borderline",
            healthy(successes=430),
            Limits(),
            "hold",
            "success 86.0% (95% CI 82.7–88.8%): not clearly",
        ),
        ("tool errors clearly high", healthy(tool_errors=160), Limits(), "no-go", "tool-error rate 8.0%"),
        ("escalations borderline", healthy(escalated=45), Limits(), "hold", "escalation rate 9.0%"),
        (
            "a few confirmations cannot hold, and are named",
            healthy(asked=25, rejections=4),
            Limits(),
            "go",
            "rejection rate 16.0% over 25 samples: too few to judge (30 needed)",
        ),
        ("eval gate", healthy(eval_pass_rate=0.70), Limits(), "no-go", "eval pass rate 70.0% below the 85.0% gate"),
        ("critical case", healthy(critical_eval_failures=1), Limits(), "no-go", "1 critical eval case failing"),
        (
            "cost ceiling",
            healthy(cost_per_successful_task=0.30),
            Limits(cost_per_successful_task=0.25),
            "hold",
            "cost per successful task $0.3000 above the $0.2500 ceiling",
        ),
        (
            "drift",
            healthy(drifting=["tool errors drifting up: 4.0% in the last hour against 1.0% in the week before"]),
            Limits(),
            "hold",
            "tool errors drifting up",
        ),
        (
            "unchecked mistakes",
            healthy(previous=healthy(successes=490, autonomous=380)),
            Limits(),
            "no-go",
            "success falling (98.0% → 95.0%) while autonomy rises (76.0% → 90.0%)",
        ),
        ("stricter limits", healthy(), Limits(task_success_rate=0.97), "no-go", "below the 97.0% limit"),
    ],
)
def test_verdict_rules(name, evidence, limits, expected, reason):
    got, reasons = verdict(evidence, limits)
    assert got == expected, reasons
    assert reason in reasons[0], reasons


def test_drift_fires_on_a_real_rise_and_says_why():
    recent = Evidence(tool_calls=1200, tool_errors=60)  # 5% in the last hour
    baseline = Evidence(tool_calls=200_000, tool_errors=2000)  # 1% the week before
    [reason] = drift(recent, baseline, "in the last hour", "in the week before")
    assert reason.startswith("tool errors drifting up: 5.0% in the last hour against 1.0% in the week before (z =")


def test_drift_raises_few_false_alarms_without_drift():
    """Same true rates in both windows: the alarm (z >= 3) fires in well under 5% of windows."""
    rng = random.Random(11)
    alarms = 0
    trials = 2000
    for _ in range(trials):
        p = rng.uniform(0.01, 0.2)
        n1, n2 = rng.randint(100, 800), rng.randint(5000, 50_000)
        k1 = sum(rng.random() < p for _ in range(n1))
        k2 = round(rng.gauss(p * n2, (n2 * p * (1 - p)) ** 0.5))
        alarms += two_proportion_z(k1, n1, k2, n2) >= 3
    assert alarms / trials < 0.05


DRIFTING = "tool errors drifting up: 4.0% in the last hour against 1.0% in the week before (z = 9.9)"


def test_a_rate_past_its_limit_over_too_few_samples_is_never_hidden_behind_every_limit_met():
    got, reasons = verdict(healthy(asked=25, rejections=4))
    assert got == "go"
    assert reasons == [
        "rejection rate 16.0% over 25 samples: too few to judge (30 needed)",
        "every other limit met with 95% confidence over 500 tasks; no leading signal drifting",
    ]
    # under its limit, a small sample needs no word
    assert verdict(healthy(asked=25, rejections=1))[1] == [
        "every limit met with 95% confidence over 500 tasks; no leading signal drifting"
    ]


def test_no_reason_says_every_limit_met_while_a_rate_is_past_its_limit():
    """Any counts: where a shown rate is past its limit, no reason claims every limit met, and one names it."""
    rng = random.Random(5)
    limits = Limits()
    for _ in range(3000):
        n = rng.randint(30, 400)
        e = Evidence(labeled=n, ended=n, seen=n, successes=rng.randint(int(n * 0.8), n))
        e.autonomous = rng.randint(int(n * 0.6), n)
        e.escalated = rng.randint(0, n // 6)
        e.tool_calls = rng.randint(0, 3 * n)
        e.tool_errors = rng.randint(0, e.tool_calls // 10)
        e.asked = rng.randint(0, 60)
        e.rejections = rng.randint(0, e.asked // 3)
        rates = {
            "success": (e.successes / e.labeled, limits.task_success_rate, True),
            "autonomy": (e.autonomous / e.ended, limits.autonomy_rate, True),
            "escalation rate": (e.escalated / e.seen, limits.escalation_rate, False),
            "tool-error rate": (e.tool_errors / e.tool_calls if e.tool_calls else 0, limits.tool_error_rate, False),
            "rejection rate": (e.rejections / e.asked if e.asked else 0, limits.confirmation_rejection_rate, False),
        }
        past = [label for label, (r, limit, floor) in rates.items() if (r < limit if floor else r > limit)]
        _, reasons = verdict(e, limits)
        if past:
            assert not any("every limit met" in r for r in reasons), (past, reasons)
            for label in past:
                assert any(r.startswith(label + " ") for r in reasons), (label, reasons)


def test_a_hold_names_its_drifting_signals_first():
    """Drift says what is changing; a rate not clearly inside its limit may have sat there for weeks."""
    got, reasons = verdict(healthy(escalated=45, drifting=[DRIFTING]))
    assert got == "hold"
    assert reasons[0] == DRIFTING and reasons[1].startswith("escalation rate 9.0%")
    got, reasons = verdict(healthy(successes=380, escalated=45, asked=20, rejections=4, drifting=[DRIFTING]))
    assert got == "no-go"
    assert [r.split(" ")[0] for r in reasons] == ["success", "tool", "escalation", "rejection"]


def test_drift_names_the_strongest_signal_first():
    recent = Evidence(seen=1000, escalated=60, tool_calls=2500, tool_errors=75)
    baseline = Evidence(seen=1000, escalated=30, tool_calls=2500, tool_errors=20)
    reasons = drift(recent, baseline, "in the last hour", "in the week before")
    assert [r.split(" drifting")[0] for r in reasons] == ["tool errors", "escalations"]
