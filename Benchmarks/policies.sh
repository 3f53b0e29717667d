#!/usr/bin/env bash
# Reproduces the policy figures in BENCHMARKS.md ("Policies: success, RTI and samplers"): RTI against DDIM at equal
# cost on the bundled policy (ONLY_EQUAL=1 stops after it), then expert demonstrations → diffusion (x0- and ε-prediction) and BC policies trained by `reflex train` →
# 200 seeded evaluation episodes per sampler on held-out starts (seeds 1000..1199; training used 0..199).
# Usage: Benchmarks/policies.sh [WORKDIR]   (default /tmp/reflex-policies; finished steps are skipped on re-runs)
# Then:  python3 Benchmarks/policy_table.py WORKDIR   prints the markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
W="${1:-/tmp/reflex-policies}"
R=.build/release/reflex
N="${EPISODES:-200}"
mkdir -p "$W"
make build >/dev/null

# RTI at equal cost, on the bundled policy (policies/so101-lift: 3×256, x0-prediction): each RTI sampler beside the
# DDIM:N with the same network evaluations per control step over whole episodes. RTI's first chunk of an episode runs
# the full DDPM chain (the official code; rti:…) or DDIM over N steps (rti:…/ddim:N).
B=policies/so101-lift
eq() { # sampler action-steps name
  local out="$W/equal-$3.json"
  [ -f "$out" ] && return 0
  $R eval --policy $B --task lift --episodes "$N" --seed 1000 --workers 2 --quiet --sampler "$1" --action-steps "$2" --out "$out" | grep success
}
eq ddim:1 4 a-ddim1-a4
eq rti:0/ddim:1 4 a-rti0-ddim1-a4
eq rti-renoise:0/ddim:1 4 a-rtirenoise0-ddim1-a4
eq ddim:3 4 b-ddim3-a4
eq rti:2,1,0/ddim:3 4 b-rti210-ddim3-a4
eq rti-renoise:2,1,0/ddim:3 4 b-rtirenoise210-ddim3-a4
eq ddim:4 4 c-ddim4-a4
eq rti:0/ddim:1 1 c-rti0-ddim1-a1
eq ddim:9 4 d-ddim9-a4
eq rti:0 4 d-rti0-a4
eq ddim:12 4 e-ddim12-a4
eq rti:2,1,0 4 e-rti210-a4
eq rti-renoise:2,1,0 4 e-rtirenoise210-a4
eq rti:2,1,0/ddim:3 1 e-rti210-ddim3-a1
eq ddpm 4 f-ddpm-a4
if [ -n "${ONLY_EQUAL:-}" ]; then python3 Benchmarks/policy_table.py "$W"; exit 0; fi

for task in lift push; do
  [ -f "$W/$task/meta.json" ] || $R collect --task $task --episodes 200 --seed 0 --workers 2 --out "$W/$task"
  # The expert on the evaluation seeds.
  [ -f "$W/expert-$task.txt" ] || $R collect --task $task --episodes "$N" --seed 1000 --workers 2 --out "$W/expert-$task" | tail -1 > "$W/expert-$task.txt"
  [ -f "$W/pol-$task-s8k/model.safetensors" ] || $R train --algo diffusion --prediction sample --demos "$W/$task" --out "$W/pol-$task-s8k" --steps 8000 --threads 1
  [ -f "$W/bc-$task/model.safetensors" ] || $R train --algo bc --demos "$W/$task" --out "$W/bc-$task" --steps 3000 --threads 1
done
[ -f "$W/pol-lift-e8k/model.safetensors" ] || $R train --algo diffusion --prediction epsilon --demos "$W/lift" --out "$W/pol-lift-e8k" --steps 8000 --threads 1

ev() { # policy task sampler action-steps name
  local out="$W/eval-$5.json"
  [ -f "$out" ] && return 0
  local sampler=(); [ "$3" != "-" ] && sampler=(--sampler "$3")
  $R eval --policy "$1" --task "$2" --episodes "$N" --seed 1000 --workers 2 --quiet "${sampler[@]}" --action-steps "$4" --out "$out" | grep success
}
for task in lift push; do
  P="$W/pol-$task-s8k"
  ev "$W/bc-$task" $task - 8 "$task-bc-a8"
  ev $P $task ddpm 8 "$task-x0-ddpm-a8"
  for a in 4; do
    ev $P $task ddim:3 $a "$task-x0-ddim3-a$a"
    ev $P $task ddim:1 $a "$task-x0-ddim1-a$a"
  done
done
E="$W/pol-lift-e8k"
ev $E lift ddpm 8 "lift-eps-ddpm-a8"
ev $E lift ddim:3 4 "lift-eps-ddim3-a4"
python3 Benchmarks/policy_table.py "$W"
