#!/usr/bin/env bash
# The daemon for MINUTES under load and random API traffic: `reflex serve` over the simulated SO-101 (lift), wrk
# driving POST /v1/predict (the bundled policy, remote inference) and GET /v1/status at once, and Schemathesis
# generating requests for every operation of the daemon's openapi.json (coverage, fuzzing and stateful phases,
# valid and invalid bodies) — while RSS and open file descriptors are sampled every 10 s. Prints one table:
# requests by source, 5xx answers (from the daemon's own /metrics and Schemathesis' not_a_server_error check),
# crashes, RSS after warm-up and its growth per hour (least squares), file descriptors first and last.
# Fails on a 5xx, a crash, or descriptors that grew.
#
#   scripts/api-campaign.sh 60      # an hour (RELIABILITY.md's figure); default 10 minutes
#
# (Benchmarks/serve_schemathesis.sh runs Schemathesis alone, without load or sampling.)
# Needs: wrk (Debian package, installed here if missing) and Schemathesis (PyPI, in .build-api/venv or
# REFLEX_API_VENV); the reflex binary at .build/release/reflex (or REFLEX). Output, logs and samples in .build-api/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
seconds=$((minutes * 60))
out=$PWD/.build-api
mkdir -p "$out"
venv=${REFLEX_API_VENV:-$out/venv}
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis
fi
if ! command -v wrk >/dev/null; then
    SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $SUDO apt-get install -y -qq wrk
fi
reflex=${REFLEX:-.build/release/reflex}
[ -x "$reflex" ] || make build >/dev/null
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=${REFLEX_API_PORT:-18480}
base=http://127.0.0.1:$port
REFLEX_TOKEN=$token "$reflex" serve --config examples/serve-sim.yaml --listen "127.0.0.1:$port" \
    >"$out/serve.log" 2>&1 &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "$base/openapi.json" >/dev/null && break; sleep 0.2; done

# RSS (kB) and descriptors every 10 s while the daemon lives.
: >"$out/samples.txt"
( while kill -0 "$daemon" 2>/dev/null; do
      echo "$(date +%s) $(awk '/^VmRSS/{print $2}' /proc/$daemon/status) $(ls /proc/$daemon/fd | wc -l)" >>"$out/samples.txt"
      sleep 10
  done ) &
sampler=$!

# Remote inference at load: one observation of the bundled policy's size (n_obs_steps × observation_size).
size=$(awk '/^observation_size:/{o=$2} /^n_obs_steps:/{n=$2} END{print o*n}' policies/so101-lift/policy.yaml)
cat >"$out/predict.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local obs = {}
for i = 1, $size do obs[i] = string.format("%.3f", 0.01 * (i % 17)) end
wrk.body = '{"policy": "lift", "observation": [' .. table.concat(obs, ",") .. '], "steps_executed": 0, "episode_start": true}'
LUA
wrk -t1 -c2 -d"${seconds}s" -s "$out/predict.lua" "$base/v1/predict" >"$out/wrk-predict.txt" 2>&1 &
wrk_predict=$!
wrk -t1 -c2 -d"${seconds}s" -H "Authorization: Bearer $token" "$base/v1/status" >"$out/wrk-status.txt" 2>&1 &
wrk_status=$!

set +e
# From .build-api/: Schemathesis keeps its cache in the working directory.
# Loads seeded with the bundled policy's directory, so the stateful phase follows the links from a loaded policy.
SCHEMATHESIS_CONFIG=$PWD/Benchmarks/schemathesis.toml
export SCHEMATHESIS_HOOKS=$PWD/Benchmarks/schemathesis_hooks.py REFLEX_ST_POLICY_DIRS=$PWD/policies/so101-lift
(cd "$out" && \
    "$venv/bin/schemathesis" --config-file "$SCHEMATHESIS_CONFIG" run "$base/openapi.json" -H "Authorization: Bearer $token" --max-time "$seconds" \
    --workers 1 --exclude-path /v1/stream --suppress-health-check all --continue-on-failure \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    >"$out/schemathesis.txt" 2>&1)
st_status=$?
wait "$wrk_predict" "$wrk_status"
set -e
alive=yes
kill -0 "$daemon" 2>/dev/null || alive=no
curl -sf -H "Authorization: Bearer $token" "$base/metrics" >"$out/metrics.txt" || true
kill -TERM "$daemon" 2>/dev/null || true
set +e
wait "$daemon"
exit_status=$?
set -e
kill "$sampler" 2>/dev/null || true

python3 - "$out" "$minutes" "$alive" "$exit_status" "$st_status" <<'PY'
import re, sys
out, minutes, alive, exit_status, st_status = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def wrk(path):
    t = open(path).read()
    m = re.search(r"(\d+) requests in", t)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    errors = re.search(r"Socket errors: (.*)", t)
    return int(m.group(1)) if m else 0, int(non2xx.group(1)) if non2xx else 0, errors.group(1) if errors else "none"
pr, pn, pe = wrk(f"{out}/wrk-predict.txt")
sr, sn, se = wrk(f"{out}/wrk-status.txt")
st = open(f"{out}/schemathesis.txt").read()
cases = re.search(r"(\d+) generated", st)
st_failures = re.findall(r"Server error", st)
metrics = open(f"{out}/metrics.txt").read() if alive == "yes" else ""
fivexx = sum(int(n) for code, n in re.findall(r'reflex_http_refused_total\{code="(5\d\d)"\} (\d+)', metrics))
samples = [tuple(map(int, l.split())) for l in open(f"{out}/samples.txt") if len(l.split()) == 3]
warm = [s for s in samples if s[0] - samples[0][0] >= 60] or samples
n = len(warm)
if n >= 2:
    t0 = warm[0][0]
    xs = [(s[0] - t0) / 3600 for s in warm]; ys = [s[1] / 1024 for s in warm]
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(1e-12, sum((x - mx) ** 2 for x in xs))
else:
    slope = float("nan")
fd_first, fd_last = (samples[0][2], samples[-1][2]) if samples else (0, 0)
print(f"API campaign: {minutes:g} min, daemon alive at the end: {alive}, exit status after SIGTERM: {exit_status}")
print(f"  wrk POST /v1/predict: {pr} requests, non-2xx {pn}, socket errors {pe}")
print(f"  wrk GET /v1/status:   {sr} requests, non-2xx {sn}, socket errors {se}")
print(f"  Schemathesis: {cases.group(1) if cases else '?'} generated cases, exit {st_status}, server-error findings {len(st_failures)}")
print(f"  5xx answered (daemon /metrics): {fivexx}")
print(f"  RSS after 60 s warm-up: {warm[0][1]/1024:.1f} MB -> {warm[-1][1]/1024:.1f} MB, growth {slope:+.2f} MB/h ({n} samples)")
print(f"  file descriptors: {fd_first} -> {fd_last}")
ok = alive == "yes" and exit_status == 0 and fivexx == 0 and not st_failures and fd_last <= fd_first + 2 and pn == 0
sys.exit(0 if ok else 1)
PY
