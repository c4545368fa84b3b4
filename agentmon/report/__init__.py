"""Reading the store: metrics, verdicts, the fleet view, export, the release gate."""
