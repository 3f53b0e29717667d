#!/usr/bin/env bash
# Reproduces docs/delay.md: success and smoothness of chunk execution strategies against inference delay D on the
# bundled lift policy (policies/so101-lift: MLP denoiser 3×256, x0-prediction, horizon 16), 8 of 16 actions executed
# per chunk (--action-steps 8; the policy's own n_action_steps is 4), held-out seeds 1000.., every strategy at 3
# network evaluations per chunk (DDIM:3, or RTI's [2,1,0] with a DDIM:3 first chunk).
# Usage: Benchmarks/delay.sh [WORKDIR]   (default /tmp/reflex-delay; finished runs are skipped on re-runs)
#        EPISODES=100 Benchmarks/delay.sh   on a loaded machine.
#        POLICY=DIR Benchmarks/delay.sh WORKDIR   another policy (docs/delay.md's ε-prediction one: see there).
#        SAMPLER=ddpm:10 DELAYS="4 6" STRATEGIES="naive rtc-replace rtc" ...   another sampler (no RTI rows then).
# Then:  python3 Benchmarks/delay_table.py WORKDIR   prints the markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
W="${1:-/tmp/reflex-delay}"
R=.build/release/reflex
N="${EPISODES:-200}"
B="${POLICY:-policies/so101-lift}"
S="${SAMPLER:-ddim:3}"
mkdir -p "$W"
[ -x "$R" ] || { echo "build first: make build"; exit 1; }
run() { # name sampler execution delay
  local out="$W/$1-d$4.json"
  [ -f "$out" ] && return 0
  $R eval --policy "$B" --task lift --episodes "$N" --seed 1000 --workers 2 --quiet --action-steps 8 \
    --sampler "$2" --execution "$3" --delay "$4" --out "$out" | grep success | sed "s/^/$1 D=$4 /"
}
run sync "$S" sync 0
for d in ${DELAYS:-1 2 4 6}; do
  for e in ${STRATEGIES:-naive ensemble rtc-replace rtc}; do run "$e" "$S" "$e" "$d"; done
  if [ "$S" = ddim:3 ]; then
    run rti rti:2,1,0/ddim:3 naive "$d"
    run rti-delay rti:2,1,0/ddim:3 rti-delay "$d"
  fi
done
[ "$S" = ddim:3 ] && run rti-sync rti:2,1,0/ddim:3 sync 0
exit 0
