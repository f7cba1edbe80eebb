"""`python -m fleet`: the operators' commands (query, devices, sightings, watch, stats, delete) and the edge agent
(`python -m fleet agent ...`, imported only when asked for, so the operators' commands run without it)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["agent"]:
        from fleet.agent.cli import main as agent_main

        return agent_main(argv[1:])
    from fleet.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
