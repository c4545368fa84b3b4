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
        ("a few confirmations cannot hold", healthy(asked=12, rejections=2), Limits(), "go", "every limit met"),
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


def test_the_demo_drifts_go_then_hold_on_its_signals_then_no_go_before_success_falls(tmp_path):
    """The demo's story, minute by minute after launch (tests/tui_helpers.FROZEN as launch)."""
    from agentmon.ingest.ingester import Ingester
    from agentmon.report.metrics import agent_metrics
    from agentmon.simulate.demo import DemoFleet
    from agentmon.store.writer import Store, connect

    launch = 1_780_000_000.0
    fleet = DemoFleet(tmp_path / "logs", now=launch, seed=42)
    fleet.start()
    seen = []
    with Store(tmp_path / "db") as store:
        ingester = Ingester(store, [tmp_path / "logs"])
        conn = connect(tmp_path / "db", readonly=True)
        for minute in range(0, 31, 2):
            fleet.write_due(launch + minute * 60)
            ingester.run_once()
            m = next(a for a in agent_metrics(conn, "1h", launch + minute * 60) if a.agent == "refund-agent")
            seen.append((m.verdict, m.task_success_rate, any("drifting up" in r for r in m.reasons)))
        ingester.close()
    verdicts = [v for v, _, _ in seen]
    assert verdicts[0] == "go"
    first_hold, first_no_go = verdicts.index("hold"), verdicts.index("no-go")
    assert first_hold < first_no_go
    assert seen[first_hold][2]  # held on a drifting leading signal…
    assert seen[first_hold][1] >= seen[0][1] - 0.01  # …while success had not yet fallen
    assert seen[-1][1] < seen[0][1] - 0.05  # it falls later
