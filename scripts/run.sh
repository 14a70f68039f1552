#!/usr/bin/env bash
# `make run`: initialise an SMKI home on the first run (software keys, SQLite), then serve it.
# Usage: bash scripts/run.sh HOME HOST PORT
set -euo pipefail
SMKI_DIR="${1:-./smki-data}"
HOST="${2:-127.0.0.1}"
PORT="${3:-8080}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMKI="$REPO/.venv/bin/smki"

mkdir -p "$SMKI_DIR"
SMKI_DIR="$(cd "$SMKI_DIR" && pwd)"

# Demo default: with no passphrase configured, software keys are protected by a random passphrase kept
# in HOME/passphrase (mode 0600). For real use set SMKI_KEY_PASSPHRASE_FILE to a file outside HOME.
if [ -z "${SMKI_KEY_PASSPHRASE:-}" ] && [ -z "${SMKI_KEY_PASSPHRASE_FILE:-}" ]; then
  PASSPHRASE_FILE="$SMKI_DIR/passphrase"
  if [ ! -s "$PASSPHRASE_FILE" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=+/' > "$PASSPHRASE_FILE")
    echo "smki: demo default - generated a random key passphrase in $PASSPHRASE_FILE (mode 0600)."
  fi
  export SMKI_KEY_PASSPHRASE_FILE="$PASSPHRASE_FILE"
fi

# First run only: the key ceremony writes certs/root-oca.pem once the hierarchy is in force.
if [ ! -f "$SMKI_DIR/certs/root-oca.pem" ]; then
  "$SMKI" init --home "$SMKI_DIR" --keys soft
fi

echo "smki: serving $SMKI_DIR on http://$HOST:$PORT (GET /health, /ca, /certificates/commissioning)"
exec "$SMKI" serve --home "$SMKI_DIR" --host "$HOST" --port "$PORT"
