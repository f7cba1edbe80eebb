"""The fleet side of edge-ocr: edge agents report the text events their cameras read to a central, exactly once in
effect, and operators ask the central questions. Free of gRPC except at its edges.

``model`` (domain types), ``convert`` (the one place fleet.v1 messages meet them), ``central`` (the central's
domain: validation, store in a thread pool, watch, retention), ``store`` (SQLAlchemy Core, SQLite or PostgreSQL),
``agent`` (cameras -> durable outbox -> upload), ``cli`` (the operators' commands). ``server/fleet_service.py`` is
the central's transport; ``python -m fleet`` is the operators' command line and ``python -m fleet agent`` the
agent.
"""
