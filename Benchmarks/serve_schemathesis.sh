#!/usr/bin/env bash
# Property-based check of the daemon against its own OpenAPI document with schemathesis (PyPI): every operation gets
# generated valid and invalid requests; checks: no 5xx, responses match the documented schemas and status codes.
# Runs a daemon on a fake arm (TCP on loopback, token). Not part of CI (it installs schemathesis into a venv).
# Loads are seeded with the bundled policy's directory (Benchmarks/schemathesis_hooks.py), so the stateful phase
# follows the links from a loaded policy.
#   [MAX_EXAMPLES=50] Benchmarks/serve_schemathesis.sh [more schemathesis options, e.g. --phases stateful --max-time 300]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SCHEMATHESIS_VENV:-$PWD/.build-api/venv}
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q schemathesis; }
tmp=$(mktemp -d /tmp/reflex-st.XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$tmp/token"; chmod 600 "$tmp/token"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/serve.yaml" <<YAML
arm: {robot: so101, fake: true}
policies: {lift: $PWD/policies/so101-lift}
policy_roots: [$PWD/policies]
listen: 127.0.0.1:$port
token_file: $tmp/token
priority: 0
YAML
.build/release/reflex serve --config "$tmp/serve.yaml" --log-level error &
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/openapi.json" > /dev/null && break; sleep 0.1; done
SCHEMATHESIS_HOOKS=$PWD/Benchmarks/schemathesis_hooks.py REFLEX_ST_POLICY_DIRS=$PWD/policies/so101-lift \
  "$venv/bin/schemathesis" --config-file "$PWD/Benchmarks/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $(cat "$tmp/token")" \
  --checks all --exclude-checks unsupported_method --max-examples "${MAX_EXAMPLES:-50}" "$@"
