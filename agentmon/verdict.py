"""Go / hold / no-go from an agent's metrics, with reasons in words.

A placeholder with fixed thresholds until the verdict issue replaces it; it is
honest about small samples: under MIN_TASKS ended tasks the answer is hold.
"""

from __future__ import annotations

MIN_TASKS = 30
NO_GO_SUCCESS = 0.80
HOLD_SUCCESS = 0.90
NO_GO_EVAL = 0.80
HOLD_AUTONOMY = 0.70
HOLD_ESCALATION = 0.15
HOLD_TOOL_ERRORS = 0.10


def _pct(x: float) -> str:
    return f"{x:.1%}"


def verdict(m) -> tuple[str, list[str]]:
    """(verdict, reasons) for an AgentMetrics-like object."""
    labeled = m.tasks - m.unlabeled_tasks
    if labeled < MIN_TASKS:
        if m.unlabeled_tasks:
            return "hold", [f"too few labeled tasks: {labeled} of {MIN_TASKS} needed "
                            f"({m.unlabeled_tasks} ended without an outcome)"]
        return "hold", [f"too few tasks: {m.tasks} of {MIN_TASKS} needed"]
    no_go, hold = [], []
    s = m.task_success_rate
    if s < NO_GO_SUCCESS:
        no_go.append(f"success {_pct(s)} below the {_pct(NO_GO_SUCCESS)} limit")
    elif s < HOLD_SUCCESS:
        hold.append(f"success {_pct(s)} below the {_pct(HOLD_SUCCESS)} target")
    if m.eval_pass_rate is not None and m.eval_pass_rate < NO_GO_EVAL:
        no_go.append(f"eval pass rate {_pct(m.eval_pass_rate)} below {_pct(NO_GO_EVAL)}")
    if m.autonomy_rate < HOLD_AUTONOMY:
        hold.append(f"autonomy {_pct(m.autonomy_rate)} below {_pct(HOLD_AUTONOMY)}")
    if m.escalation_rate is not None and m.escalation_rate > HOLD_ESCALATION:
        hold.append(f"escalations {_pct(m.escalation_rate)} above {_pct(HOLD_ESCALATION)}")
    if m.tool_error_rate is not None and m.tool_error_rate > HOLD_TOOL_ERRORS:
        hold.append(f"tool errors {_pct(m.tool_error_rate)} above {_pct(HOLD_TOOL_ERRORS)}")
    if no_go:
        return "no-go", no_go + hold
    if hold:
        return "hold", hold
    tasks = f"{labeled} labeled tasks" if m.unlabeled_tasks else f"{labeled} tasks"
    return "go", [f"success {_pct(s)} over {tasks}; no limit crossed"]
