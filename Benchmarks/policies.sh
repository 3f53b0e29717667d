#!/usr/bin/env bash
# Reproduces the policy figures in BENCHMARKS.md ("Policies: success, RTI and samplers"):
# expert demonstrations → diffusion (x0- and ε-prediction) and BC policies trained by `reflex train` →
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
    ev $P $task rti:2,1,0 $a "$task-x0-rti210-a$a"
    ev $P $task rti-renoise:2,1,0 $a "$task-x0-rtirenoise210-a$a"
    ev $P $task ddim:1 $a "$task-x0-ddim1-a$a"
    ev $P $task rti:0 $a "$task-x0-rti0-a$a"
  done
done
E="$W/pol-lift-e8k"
ev $E lift ddpm 8 "lift-eps-ddpm-a8"
ev $E lift ddim:3 4 "lift-eps-ddim3-a4"
ev $E lift rti:2,1,0 4 "lift-eps-rti210-a4"
ev $E lift rti-renoise:2,1,0 4 "lift-eps-rtirenoise210-a4"
python3 Benchmarks/policy_table.py "$W"
