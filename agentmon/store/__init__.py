"""The single writer: schema, task state, aggregates and prices, committed with file offsets."""
