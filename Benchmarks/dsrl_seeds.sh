#!/usr/bin/env bash
# DSRL-SAC on a second weak lift base, over DSRL seeds and stabilizers (issue 21's collapse study). Writes under
# WORKDIR (default /tmp/reflex-dsrl-seeds); each step is skipped when its output exists, so a stopped run continues.
#
# The base: steering.sh's recipe with demonstrations from seed 7000 and training seed 3 (20.5% on the held-out starts
# 3000–3199). Each DSRL run: the documented settings (5,000 chunks, UTD 4, warm-up 1,500), evaluated every 500 chunks
# on the trainer's 50 starts, then on the 200 held-out starts. Variants: VARIANTS="name:extra options;…".
# MODE=fixes runs the critic stabilizers of issue 21 instead (critic ensembles, gradient clipping) on the collapsing seeds;
# every run's metrics.csv also holds the critic's checks (Q against Monte-Carlo returns, TD targets, replay contents),
# summarized by Benchmarks/dsrl_critic_report.py.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/reflex-dsrl-seeds}
R=.build/release/reflex
[ -x $R ] || swift build -c release -Xcxx -O3 -Xcxx -march=native
mkdir -p "$W"
run() { local out=$1; shift; [ -e "$out" ] || "$@"; }

run "$W/demos" $R collect --task lift --episodes 200 --seed 7000 --workers 2 --action-noise 0.16 --out "$W/demos"
run "$W/base" $R train --demos "$W/demos" --out "$W/base" --steps 3000 --hidden 256,256,256 --prediction sample \
    --n-obs-steps 1 --horizon 4 --n-action-steps 4 --sampler ddim:10 --threads 1 --seed 3
E="--episodes 200 --seed 3000 --workers 1 --quiet"
run "$W/eval-base.json" $R eval --policy "$W/base" --sampler ddim:10 $E --out "$W/eval-base.json"

# seed1 (re-run: bit-identical to the first, now with the critic's checks), the min over three critics (actor on their
# mean), target entropy −12 (half of −dim) instead of 0, then what is not yet measured: seed 11, REDQ's 10 critics
# with random pairs, gradient clipping.
FIXES="seed1:--seed 1;seed1-min3:--seed 1 --critics 3 --critic-subset 3;seed1-ent-12:--seed 1 --target-entropy=-12;seed11-min3:--seed 11 --critics 3 --critic-subset 3;seed1-redq10:--seed 1 --critics 10 --critic-subset 2;seed1-clip1:--seed 1 --grad-clip 1"
[ "${MODE:-}" = fixes ] && VARIANTS=${VARIANTS:-$FIXES}
VARIANTS=${VARIANTS:-"seed1:--seed 1;seed1-best:--seed 1 --keep best-evaluation;seed11-best:--seed 11 --keep best-evaluation;seed1-mag1:--seed 1 --dsrl-magnitude 1.0;seed1-lr1e-4:--seed 1 --lr 1e-4;seed1-512-best:--seed 1 --hidden 512,512,512 --keep best-evaluation;seed1-utd2-best:--seed 1 --utd 2 --keep best-evaluation;seed1-pd2-best:--seed 1 --policy-delay 2 --keep best-evaluation;seed11-utd2-best:--seed 11 --utd 2 --keep best-evaluation"}
IFS=';' read -ra list <<< "$VARIANTS"
for v in "${list[@]}"; do
    name=${v%%:*}; opts=${v#*:}
    # shellcheck disable=SC2086
    run "$W/$name/policy.safetensors" $R finetune --env so101:lift --dsrl "$W/base" --steps 5000 --warmup 1500 --utd 4 \
        --eval-every 500 --eval-episodes 50 --checkpoint-every 500 --threads 1 --out "$W/$name" --quiet $opts
    run "$W/eval-$name.json" $R eval --policy "$W/base" $E --dsrl "$W/$name" --out "$W/eval-$name.json"
    echo "$name: trainer starts $(awk -F, 'NR>1 && $3!="" {printf "%s:%.0f%% ", $1, 100*$5}' "$W/$name/metrics.csv")"
    python3 Benchmarks/dsrl_critic_report.py "$W/$name"
    echo "$name: held-out $(python3 -c "import json,sys;r=json.load(open(sys.argv[1]))['report'];print(f\"{100*r['success_rate']:.1f}% ({r['successes']}/{r['episodes']})\")" "$W/eval-$name.json")"
done
# The last actor of seed 1 sampled instead of taking tanh(μ).
if [ -e "$W/seed1/policy.safetensors" ]; then
    run "$W/eval-seed1-stochastic.json" $R eval --policy "$W/base" $E --dsrl "$W/seed1" --dsrl-stochastic --out "$W/eval-seed1-stochastic.json"
fi
