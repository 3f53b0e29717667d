#!/usr/bin/env bash
# The fault campaign (issue 20): hardware in the loop under injected faults for MINUTES, with memory and file
# descriptors sampled, and one table at the end.
#
#   scripts/fault-campaign.sh MINUTES            # e.g. 60; needs a release build (make, or swift build -c release)
#
# `reflex emulate --sim lift` plays the SO-101 behind a pseudo-terminal (the Bullet arm moves the servos, the camera
# channel publishes the cube) and injects faults at FAULT_RATES (seed FAULT_SEED); `reflex run --port --camera
# --episodes` drives it with policies/so101-lift, episode after episode, until MINUTES are up (then SIGTERM: the
# episode under way ends, the report is written). Every ~10 s the run's (and the emulator's) VmRSS and open fds are
# read from /proc. Exits non-zero on a command outside the joint limits, an fd leak (more fds at the end than after
# warm-up), RSS growth over 1 MB/h after warm-up, or a crash (either process gone early, or an error exit).
# Files stay in $OUT (default a fresh /tmp/fault-campaign.XXXX): emulate.log, run.log, report.json, samples.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${1:?usage: scripts/fault-campaign.sh MINUTES}
RATES=${FAULT_RATES:-drop=0.002,checksum=0.001,garbage=0.001,late=0.001,overload=0.0005,encoder=0.0002,silent=0.01/s:0.3s,overheat=0.005/s:2s,undervoltage=0.005/s:1s,camera=0.02/s:0.5s}
SEED=${FAULT_SEED:-1}
REFLEX=${REFLEX:-.build/release/reflex}
POLICY=${POLICY:-policies/so101-lift}
OUT=${OUT:-$(mktemp -d /tmp/fault-campaign.XXXX)}
mkdir -p "$OUT"
SECONDS_TOTAL=$(python3 -c "print(int(float('$MINUTES') * 60))")
[ -x "$REFLEX" ] || { echo "no $REFLEX: build first (swift build -c release)" >&2; exit 2; }

LINK=$OUT/so101
CAM=$OUT/so101.cam
"$REFLEX" emulate --robot so101 --sim lift --link "$LINK" --camera "$CAM" \
    --fault-rates "$RATES" --fault-seed "$SEED" >"$OUT/emulate.log" 2>&1 &
EMU=$!
for _ in $(seq 100); do [ -e "$LINK" ] && [ -e "$CAM" ] && break; sleep 0.1; done
[ -e "$LINK" ] || { echo "the emulator did not come up:" >&2; cat "$OUT/emulate.log" >&2; kill "$EMU" 2>/dev/null; exit 2; }

"$REFLEX" run --port "$LINK" --camera "$CAM" --policy "$POLICY" --episodes 1000000 --seed 1000 \
    --report "$OUT/report.json" >"$OUT/run.log" 2>&1 &
RUN=$!
echo "fault campaign: $MINUTES min, rates $RATES, seed $SEED; run pid $RUN, emulator pid $EMU; files in $OUT" >&2

sample() { # pid -> "rss_kB fds", or nothing if gone
    local rss fds
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 0
    fds=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
    [ -n "$rss" ] && echo "$rss $fds"
}
printf 't_s\trun_rss_kB\trun_fds\temu_rss_kB\temu_fds\n' >"$OUT/samples.tsv"
START=$(date +%s)
EARLY_EXIT=0
while true; do
    NOW=$(date +%s)
    ELAPSED=$((NOW - START))
    if ! kill -0 "$RUN" 2>/dev/null || ! kill -0 "$EMU" 2>/dev/null; then EARLY_EXIT=1; break; fi
    R=$(sample "$RUN"); E=$(sample "$EMU")
    [ -n "$R" ] && [ -n "$E" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$ELAPSED" ${R% *} ${R#* } ${E% *} ${E#* } >>"$OUT/samples.tsv"
    [ "$ELAPSED" -ge "$SECONDS_TOTAL" ] && break
    for _ in $(seq 10); do kill -0 "$RUN" 2>/dev/null || break; sleep 1; done
done
ELAPSED=$(($(date +%s) - START))

kill -TERM "$RUN" 2>/dev/null || true
RUN_RC=0; wait "$RUN" || RUN_RC=$?
kill -TERM "$EMU" 2>/dev/null || true
EMU_RC=0; wait "$EMU" || EMU_RC=$?

python3 - "$OUT" "$ELAPSED" "$RUN_RC" "$EMU_RC" "$EARLY_EXIT" "$RATES" "$SEED" <<'EOF'
import json, re, sys
out, elapsed, run_rc, emu_rc, early, rates, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
problems = []
if early: problems.append("a process ended before the campaign did (crash or error exit): see run.log / emulate.log")
if run_rc != 0: problems.append(f"reflex run exited {run_rc}")
if emu_rc != 0: problems.append(f"reflex emulate exited {emu_rc}")
try:
    rep = json.load(open(f"{out}/report.json"))
except Exception as e:
    rep = {"episodeResults": [], "episodes": 0, "successes": 0}
    problems.append(f"no run report ({e})")
eps = rep.get("episodeResults", [])
tot = lambda k: sum(e.get(k, 0) for e in eps)
health = rep.get("busHealth") or {}
stats = health.get("statistics", {})
# The emulator's last summary line: "faults injected: drop=3 late=1 ..., fault episodes: silent=2 ..., camera stalls: 4 (60 frames not sent)"
summary = [l for l in open(f"{out}/emulate.log") if "faults injected" in l]
last = summary[-1] if summary else ""
def kv(section):
    m = re.search(section + r": ([^,]*)", last)
    return dict(re.findall(r"(\w+)=(\d+)", m.group(1))) if m else {}
injected, episodes = kv("faults injected"), kv("fault episodes")
m = re.search(r"camera stalls: (\d+) \((\d+) frames", last)
stalls = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
m = re.search(r"requests (\d+)", last)
requests = int(m.group(1)) if m else 0

rows = [l.split("\t") for l in open(f"{out}/samples.tsv").read().splitlines()[1:]]
samples = [(float(t), int(r), int(f), int(er), int(ef)) for t, r, f, er, ef in rows]
warm = max(120.0, elapsed * 0.1)  # warm-up: the first 2 min (or 10 %): policy loaded, buffers grown
after = [s for s in samples if s[0] >= warm] or samples[-2:]
def slope(points):  # least squares, kB per second
    if len(points) < 2: return float("nan")
    n = len(points); mx = sum(p[0] for p in points) / n; my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / den if den else float("nan")
run_growth = slope([(s[0], s[1]) for s in after]) * 3600 / 1024  # MB/h
emu_growth = slope([(s[0], s[3]) for s in after]) * 3600 / 1024
outside = tot("commandsOutsideLimits")
fd_first = after[0][2] if after else 0
fd_last = samples[-1][2] if samples else 0
if outside: problems.append(f"{outside} commands outside the joint limits")
if samples and fd_last > fd_first: problems.append(f"fd leak: {fd_first} open after warm-up, {fd_last} at the end")
if run_growth == run_growth and run_growth > 1.0: problems.append(f"RSS grew {run_growth:.2f} MB/h after warm-up (goal: flat within 1 MB/h)")

def line(name, value): print(f"| {name} | {value} |")
print(f"\n| fault campaign ({elapsed / 60:.1f} min; rates {rates}; fault seed {seed}) | |")
print("|---|---|")
line("minutes run", f"{elapsed / 60:.1f}")
line("bus requests answered by the emulator", requests)
line("faults injected (replies affected, by kind)", " ".join(f"{k}={v}" for k, v in injected.items()) or "none")
line("fault episodes (silent / overheat / undervoltage)", " ".join(f"{k}={v}" for k, v in episodes.items()) or "none")
line("camera stalls (frames not sent)", f"{stalls[0]} ({stalls[1]})")
line("bus: retries / timeouts / corrupt replies", f"{stats.get('retries', '?')} / {stats.get('timeouts', '?')} / {stats.get('corruptReplies', '?')}")
line("safe stops: watchdog trips / servo-fault stops / e-stops / retry-budget stops",
     f"{tot('watchdogTrips')} / {tot('servoFaultStops')} / {tot('emergencyStops')} / {health.get('retryBudgetExhaustions', '?')}")
line("episodes refused at start (a servo error bit or no reply in the first reads; arm held)", sum(1 for e in eps if e.get("startRefused")))
line("commands outside the joint limits (goal 0)", outside)
line("ticks position-clamped (the limits doing their job)", tot("positionClamped"))
line("deadline misses / ticks", f"{tot('deadlineMisses')} / {tot('ticks')}")
line("failed reads / failed writes", f"{tot('readFailures')} / {tot('writeFailures')}")
line("episodes / successes", f"{rep.get('episodes', 0)} / {rep.get('successes', 0)}")
if after:
    line(f"reflex run RSS after warm-up ({warm:.0f} s) → end", f"{after[0][1] / 1024:.1f} → {samples[-1][1] / 1024:.1f} MB")
    line("reflex run RSS growth (linear fit after warm-up)", f"{run_growth:+.2f} MB/h")
    line("reflex emulate RSS growth (linear fit after warm-up)", f"{emu_growth:+.2f} MB/h")
    line("reflex run fds after warm-up / at the end", f"{fd_first} / {fd_last}")
line("samples", f"{len(samples)} (every ~10 s)")
for p in problems: print(f"FAIL: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
