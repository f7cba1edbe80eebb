"""The edge agent: cameras -> durable outbox (outbox.py) -> upload to the central. Only the outbox exists yet."""
