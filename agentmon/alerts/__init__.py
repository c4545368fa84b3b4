"""Alerts: on a verdict change (and, when asked, a leading signal starting to drift), run a command and/or
POST JSON to a webhook, from whichever process ingests (the monitor, `ingest --follow`, `serve`).

- `settings`: agentmon.toml's `[alerts]`, checked.
- `judge`: the fleet's verdicts (and drifting signals), read through a read-only connection of its own.
- `watcher`: a thread that judges at most every `check_seconds`, debounces, and remembers what it last
  alerted per agent in a small JSON file beside the database (`<db>.alerts.json`), so a restart neither
  re-alerts everything nor misses a change made while it was down.
- `message`: the JSON body (a Slack-compatible `text` plus structured fields) and the command's environment.
- `delivery`: a bounded queue per target, drained by its own thread with capped exponential backoff.

Nothing here runs on the ingest thread: the ingest loop never waits for a judgement or a delivery.
"""
