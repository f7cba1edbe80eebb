"""`python -m fleet.agent --config FILE` (the same as `python -m fleet agent`)."""

from fleet.agent.cli import main

raise SystemExit(main())
