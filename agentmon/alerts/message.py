"""What an alert says: one JSON body for the webhook and the command's stdin, and the same as environment
variables. Names from logs are sent literally (JSON-escaped); only the human `text` is made safe to show."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from agentmon.text import literal

VERDICT_WORDS = {"go": "GO", "hold": "HOLD", "no-go": "NO-GO", None: "new"}


@dataclass(frozen=True)
class Alert:
    kind: str  # "verdict" (a verdict changed) or "drift" (a leading signal started drifting)
    agent: str
    old: str | None  # the verdict alerted before (None: an agent not seen before); drift: None
    new: str  # the verdict now; drift: the agent's verdict now
    reasons: tuple[str, ...]
    at: float  # unix time of the judgement
    window: str
    signals: tuple[str, ...] = ()  # drift: the leading signals that started drifting

    def fields(self) -> dict:
        return {
            "kind": self.kind,
            "agent": self.agent,
            "from": self.old,
            "to": self.new,
            "reasons": list(self.reasons),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "window": self.window,
            **({"signals": list(self.signals)} if self.kind == "drift" else {}),
        }

    def text(self) -> str:
        """One or two lines for a chat: escaped for Slack's mrkdwn (&, <, >) and for a terminal."""
        name = f"`{literal(self.agent, 80)}`"
        if self.kind == "drift":
            head = f"agentmon: {name} {', '.join(self.signals)} drifting up (verdict {VERDICT_WORDS[self.new]})"
        else:
            head = f"agentmon: {name} {VERDICT_WORDS[self.old]} → {VERDICT_WORDS[self.new]} ({self.window})"
        reason = f"\n{literal(self.reasons[0], 300)}" if self.reasons else ""
        return slack_escape(head + reason)

    def body(self) -> bytes:
        """The JSON POSTed to the webhook and written to the command's stdin."""
        return json.dumps({"text": self.text(), **self.fields()}, ensure_ascii=False).encode("utf-8")

    def environment(self) -> dict[str, str]:
        """AGENTMON_ALERT_* for the command: the fields as text, reasons one a line (NUL, which no
        environment can hold, shown as \\x00)."""
        fields = self.fields()
        env = {
            "AGENTMON_ALERT_KIND": self.kind,
            "AGENTMON_ALERT_AGENT": self.agent,
            "AGENTMON_ALERT_FROM": self.old or "",
            "AGENTMON_ALERT_TO": self.new,
            "AGENTMON_ALERT_REASONS": "\n".join(self.reasons),
            "AGENTMON_ALERT_AT": fields["at"],
            "AGENTMON_ALERT_WINDOW": self.window,
            "AGENTMON_ALERT_SIGNALS": "\n".join(self.signals),
            "AGENTMON_ALERT_TEXT": self.text(),
        }
        return {k: v.replace("\x00", "\\x00") for k, v in env.items()}


def slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup (`<!channel>` pings a channel): these three are escaped, no more
    (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
