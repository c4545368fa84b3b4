"""Input formats: each a pure function from raw input to normalized events."""


class BadLine(ValueError):
    """A line that cannot become events; its message is the quarantine reason."""
