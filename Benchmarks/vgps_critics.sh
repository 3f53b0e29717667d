#!/usr/bin/env bash
# V-GPS as published against Reflex's defaults: IQL or Cal-QL critics (γ = 0.98, the paper's), ranking K = 10
# candidates by the argmax or a softmax(Q/β) draw at β = 1, on the steering benchmark's weak lift bases, each on its own
# 200 held-out starts. Writes under WORKDIR (default /tmp/reflex-vgps); each step is skipped when its output exists.
#
# Bases: A = Benchmarks/steering.sh's (demonstrations seed 5000; 30.5% on starts 1000–1199), B = dsrl_seeds.sh's
# (demonstrations seed 7000, training seed 3; 20.5% on starts 3000–3199). Critics learn from the base's 200
# demonstrations and 300 rollouts of it (seeds 20000+, never evaluated on). RUNS lists base:algo:seed triples;
# STEPS is the updates per critic (Cal-QL costs about 7× IQL per update).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/reflex-vgps}
STEPS=${STEPS:-4000}
RUNS=${RUNS:-"A:iql:0 A:cal-ql:0 B:iql:0 B:cal-ql:0"}
R=.build/release/reflex
[ -x $R ] || swift build -c release -Xcxx -O3 -Xcxx -march=native
mkdir -p "$W"
run() { local out=$1; shift; [ -e "$out" ] || nice -n 10 "$@"; }

for b in A B; do
    demo_seed=$([ $b = A ] && echo 5000 || echo 7000); train_seed=$([ $b = A ] && echo 0 || echo 3)
    run "$W/demos$b" $R collect --task lift --episodes 200 --seed $demo_seed --workers 1 --action-noise 0.16 --out "$W/demos$b"
    run "$W/base$b" $R train --demos "$W/demos$b" --out "$W/base$b" --steps 3000 --hidden 256,256,256 --prediction sample \
        --n-obs-steps 1 --horizon 4 --n-action-steps 4 --sampler ddim:10 --threads 1 --seed $train_seed
    run "$W/rollouts$b" $R eval --policy "$W/base$b" --episodes 300 --seed 20000 --workers 1 --quiet \
        --out "$W/rollouts$b.json" --record "$W/rollouts$b"
    run "$W/eval-$b-base.json" $R eval --policy "$W/base$b" --sampler ddim:10 --episodes 200 \
        --seed $([ $b = A ] && echo 1000 || echo 3000) --workers 1 --quiet --out "$W/eval-$b-base.json"
done

for job in $RUNS; do
    IFS=: read -r b algo seed <<< "$job"
    v="$W/value-$b-$algo-s$seed"
    run "$v/value.safetensors" $R train-value --policy "$W/base$b" --data "$W/demos$b" "$W/rollouts$b" --out "$v" \
        --algo $algo --gamma 0.98 --steps $STEPS --seed $seed --threads 1
    for sel in argmax softmax; do
        run "$W/eval-$b-$algo-s$seed-$sel.json" $R eval --policy "$W/base$b" --sampler ddim:10 --value "$v" --k 10 \
            --selection $sel --episodes 200 --seed $([ $b = A ] && echo 1000 || echo 3000) --workers 1 --quiet \
            --out "$W/eval-$b-$algo-s$seed-$sel.json"
    done
done

python3 - "$W" <<'PY'
import glob, json, os, sys
w = sys.argv[1]
print("| base | critic | seed | selection | success | 95% CI |\n|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(w, "eval-*.json"))):
    parts = os.path.basename(path)[5:-5].split("-")
    r = json.load(open(path))["report"]
    lo, hi = r["success_interval"]
    base, rest = parts[0], parts[1:]
    if rest == ["base"]:
        row = ("—", "—", "base, DDIM:10")
    else:
        row = ("-".join(rest[:-2]), rest[-2][1:], rest[-1])
    print(f"| {base} | {row[0]} | {row[1]} | {row[2]} | {r['success_rate'] * 100:.1f}% | {lo * 100:.1f}–{hi * 100:.1f}% |")
PY
