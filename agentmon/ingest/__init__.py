"""Tailing files and receiving OTLP, through sources, into one store transaction per batch."""
