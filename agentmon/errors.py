"""Every error agentmon raises on purpose, in one place: what each means and who handles it."""


class AgentmonError(Exception):
    """A failure to report to the user in one line."""


class OffsetConflict(AgentmonError):
    """Another writer moved a file's offset: this batch was already ingested."""


class BadLine(ValueError):
    """A line that cannot become events; its message is the quarantine reason."""


class ConnectionLost(Exception):
    """The host could not be reached, or the link dropped: nothing read since the last commit counts."""
