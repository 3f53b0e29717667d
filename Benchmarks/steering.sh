#!/usr/bin/env bash
# Steering a weak lift policy: DSRL, V-GPS, RTI and their combinations, measured on the same 200 held-out episode
# starts (seeds 1000–1199). Writes everything under WORKDIR (default /tmp/reflex-steering); print the tables with
# `python3 Benchmarks/steering_table.py WORKDIR`. Takes hours on a shared 2-core machine (the DSRL and SAC runs are
# most of it); every step is skipped when its output exists, so a stopped run continues where it stopped.
#
# The weak base policy: 200 episodes of a noisy demonstrator (the scripted expert with N(0, 0.16²) rad added to every
# joint target; it succeeds 6% of the time), learned by a 3×256 x0-prediction diffusion policy in DSRL's robomimic
# shape (one observation, a chunk of 4 actions, all executed: 24 noise dimensions).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/reflex-steering}
DSRL_STEPS=${DSRL_STEPS:-25000}   # latent steps; each executes a chunk of 4 actions (≤ 4 environment steps)
SAC_STEPS=${SAC_STEPS:-100000}    # environment steps for SAC from scratch: the same budget
R=.build/release/reflex
[ -x $R ] || swift build -c release -Xcxx -O3 -Xcxx -march=native
mkdir -p "$W"
run() { local out=$1; shift; [ -e "$out" ] || "$@"; }

run "$W/demos" $R collect --task lift --episodes 200 --seed 5000 --workers 2 --action-noise 0.16 --out "$W/demos"
run "$W/base" $R train --demos "$W/demos" --out "$W/base" --steps 3000 --hidden 256,256,256 --prediction sample \
    --n-obs-steps 1 --horizon 4 --n-action-steps 4 --sampler ddim:10 --threads 2

# V-GPS: IQL critics from the demonstrations plus 300 rollouts of the base policy (seeds 20000+, not evaluated on).
run "$W/rollouts" $R eval --policy "$W/base" --episodes 300 --seed 20000 --workers 2 --quiet --out "$W/rollouts.json" --record "$W/rollouts"
run "$W/value" $R train-value --policy "$W/base" --data "$W/demos" "$W/rollouts" --out "$W/value" --steps 20000 --threads 1

# DSRL-SAC and DSRL-NA on the base policy's noise, and SAC from scratch on the joints with the same environment-step budget.
run "$W/dsrl/policy.safetensors" $R finetune --env so101:lift --dsrl "$W/base" --steps $DSRL_STEPS --warmup 1500 --utd 4 \
    --eval-every 2500 --eval-episodes 50 --checkpoint-every 5000 --seed 1 --out "$W/dsrl" --quiet
run "$W/dsrl-na/policy.safetensors" $R finetune --env so101:lift --dsrl "$W/base" --dsrl-variant na --steps ${NA_STEPS:-9000} \
    --warmup 1500 --utd 2 --eval-every 2500 --eval-episodes 50 --seed 1 --out "$W/dsrl-na" --quiet
run "$W/sac/policy.safetensors" $R finetune --env so101:lift --algo sac --steps $SAC_STEPS --warmup 5000 \
    --eval-every 10000 --eval-episodes 50 --checkpoint-every 20000 --seed 1 --out "$W/sac" --quiet

# The table: every combination on the same 200 starts.
E="--episodes 200 --seed 1000 --workers 2 --quiet"
ev() { local name=$1; shift; run "$W/eval-$name.json" $R eval --policy "$W/base" $E --out "$W/eval-$name.json" "$@"; }
ev base --sampler ddim:10
ev rti --sampler rti:2,1,0 --action-steps 2
ev dsrl --dsrl "$W/dsrl"
ev dsrl-na --dsrl "$W/dsrl-na"
ev vgps10 --sampler ddim:10 --value "$W/value" --k 10
ev vgps50 --sampler ddim:10 --value "$W/value" --k 50
ev dsrl-vgps10 --dsrl "$W/dsrl" --value "$W/value" --k 10
# RTI with DSRL: the official warm start (rti:…) would drop the actor's noise after each episode's first chunk, so
# Reflex refuses that combination; rti-renoise re-noises every warm start to k0 with the actor's noise (docs/policies.md).
ev rti-renoise --sampler rti-renoise:2,1,0/ddim:10 --action-steps 2
ev dsrl-rti --dsrl "$W/dsrl" --sampler rti-renoise:2,1,0/ddim:10 --action-steps 2
ev all --dsrl "$W/dsrl" --sampler rti-renoise:2,1,0/ddim:10 --action-steps 2 --value "$W/value" --k 10
# Batched candidates: one call with K = 8 against K = 1 for the same denoiser.
ev vgps8 --sampler ddim:10 --value "$W/value" --k 8
ev vgps1 --sampler ddim:10 --value "$W/value" --k 1
python3 Benchmarks/steering_table.py "$W"
