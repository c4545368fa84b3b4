"""Input formats: each a pure function from raw input to normalized events."""
