"""The fleet side of edge-ocr: the edge agent (cameras -> durable outbox -> upload) and the central's domain
(store of every device's text events, queries, sightings), free of gRPC. ``server/fleet_service.py`` is the
transport of the central; ``python -m fleet`` is the agent and the operators' command line."""
