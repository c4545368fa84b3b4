"""`python -m agentmon.cli`, as the `agentmon` command."""

from agentmon.cli import run

if __name__ == "__main__":  # imported (as the layer test imports every module), it runs nothing
    run()
