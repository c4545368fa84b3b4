"""agentmon: outcome metrics for AI agents in production, from their logs."""

__version__ = "0.1.0"
