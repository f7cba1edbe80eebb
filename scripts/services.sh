#!/usr/bin/env bash
# Test services from Debian's packages: installs `prometheus` (with promtool), `redis-server` and `postgresql` when
# missing, and on request `chromium` (the web console's browser tests drive it headless) (PostgreSQL's binaries live in /usr/lib/postgresql/<major>/bin, off PATH).
# The tests start them themselves, on loopback ports of their own, with temporary config and data
# (tests/services.py); nothing here starts a system service. Needs root (or sudo) and the Debian archive.
# Usage: bash scripts/services.sh [prometheus] [redis] [postgresql] [chromium]   (default: the first three)
set -euo pipefail
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(prometheus redis postgresql)
pkgs=()
for name in "${want[@]}"; do
  case "$name" in
    prometheus) command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || pkgs+=(prometheus) ;;
    redis) command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server) ;;
    postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql) ;;
    chromium) command -v chromium >/dev/null 2>&1 || pkgs+=(chromium) ;;
    *) echo "unknown service $name (prometheus, redis, postgresql, chromium)" >&2; exit 2 ;;
  esac
done
[ ${#pkgs[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || { echo "installing ${pkgs[*]} needs root" >&2; exit 1; }
  SUDO="sudo -n"
fi
echo "== installing ${pkgs[*]} (Debian packages; not started as system services)"
# policy-rc.d 101: the packages' maintainer scripts must not start their daemons on this machine
printf '#!/bin/sh\nexit 101\n' > /tmp/edge-ocr-policy-rc.d && chmod +x /tmp/edge-ocr-policy-rc.d
if [ ! -e /usr/sbin/policy-rc.d ]; then $SUDO cp /tmp/edge-ocr-policy-rc.d /usr/sbin/policy-rc.d; trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT; fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
