"""`python -m server.security token`: issue a bearer token and print the tokens-file entry that grants it;
`python -m server.security dev-pki DIR`: a throw-away CA, server and client certificates for trying TLS.

The token itself is printed once (stdout, first line) and never stored: the entry holds only its sha256.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
from pathlib import Path

from server.scopes import SCOPES
from server.security.tokens import hash_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.security", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("token", help="a new random token and its tokens-file entry (JSON)")
    p.add_argument("--principal", required=True, help="who the token speaks for (e.g. a device id)")
    p.add_argument("--scope", action="append", choices=SCOPES, required=True, help="repeat for several")
    p.add_argument("--expires", help="ISO-8601 time after which the token is refused, e.g. 2027-01-01T00:00:00Z")
    p.add_argument("--calls-per-s", type=float, help="this principal's call rate (default: the server's)")
    p.add_argument("--max-streams", type=int, help="this principal's open streams (default: the server's)")
    p = sub.add_parser("dev-pki", help="a throw-away CA, server (localhost, 127.0.0.1) and client certificates")
    p.add_argument("directory", type=Path)
    p.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    if args.command == "dev-pki":
        from server.security.devpki import make_dev_pki

        try:
            pki = make_dev_pki(args.directory, args.days)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"error: openssl failed: {exc} [PKI_FAILED]", file=sys.stderr)
            return 1
        for field, path in vars(pki).items():
            print(f"{field}: {path}")
        return 0
    token = secrets.token_urlsafe(32)
    entry: dict = {"sha256": hash_token(token), "principal": args.principal, "scopes": sorted(set(args.scope))}
    if args.expires:
        entry["expires"] = args.expires
    limits = {k: v for k, v in (("calls_per_s", args.calls_per_s), ("max_streams", args.max_streams)) if v is not None}
    if limits:
        entry["limits"] = limits
    print(token)
    print(json.dumps(entry))
    print(
        "add the JSON line to the 'tokens' list of the tokens file; the token above is shown only once", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
