"""`agentmon bench`: figures, not tests."""
