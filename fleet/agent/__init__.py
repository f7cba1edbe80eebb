"""The edge agent: cameras or replays (producers.py) -> durable outbox (outbox.py) -> uploader.py -> the central;
agent.py wires them, config.py reads its TOML file, cli.py is `python -m fleet agent`, metrics.py its scrape."""
