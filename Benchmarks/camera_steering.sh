#!/usr/bin/env bash
# DSRL and V-GPS on the pixel policy (issue 14): the camera-only lift policy of BENCHMARKS.md "Pixel policy" (cube and
# goal excluded from its inputs, a 64×64 front camera), trained with training seed SEED, then DSRL-SAC on its initial
# noise with the documented steering settings (5,000 chunks, UTD 4, warm-up 1,500), evaluated every 500 chunks on the
# trainer's 50 starts and at the end on the 200 held-out starts 1000–1199 (the base policy too); and V-GPS as
# steering.sh runs it (IQL critics from the demonstrations and 300 recorded rollouts with their frames, seeds 20000+,
# then K = 10 candidates ranked by argmax and by softmax at β = 1) on the same held-out starts. Writes under
# WORKDIR (default /tmp/reflex-camera-steering); every step is skipped when its output exists, so a stopped run
# continues. DSRL_SEEDS="1 11" runs several DSRL seeds; DSRL_OPTS adds options to each (e.g. --keep best-evaluation).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/reflex-camera-steering}
SEED=${SEED:-1}
R=${REFLEX:-.build/release/reflex}
[ -x "$R" ] || swift build -c release -Xcxx -O3 -Xcxx -march=native
mkdir -p "$W"
run() { local out=$1; shift; [ -e "$out" ] || "$@"; }
held_out() { python3 -c "import json,sys;r=json.load(open(sys.argv[1]))['report'];print(f\"{100*r['success_rate']:.1f}% ({r['successes']}/{r['episodes']})\")" "$1"; }

run "$W/demos" "$R" collect --task lift --episodes 200 --camera front:64x64 --seed 0 --workers 2 --out "$W/demos"
run "$W/base-s$SEED" "$R" train --demos "$W/demos" --out "$W/base-s$SEED" --camera front --exclude-features cube,goal \
    --auxiliary-weight 1 --steps 4000 --batch-size 256 --hidden 256,256,256 --n-action-steps 4 --prediction sample \
    --sampler ddim:10 --threads 1 --seed "$SEED"
E="--episodes 200 --seed 1000 --workers 2 --quiet"
run "$W/eval-base-s$SEED.json" "$R" eval --policy "$W/base-s$SEED" $E --out "$W/eval-base-s$SEED.json"
echo "base (training seed $SEED): held-out $(held_out "$W/eval-base-s$SEED.json")"
for d in ${DSRL_SEEDS:-1}; do
    name="dsrl-s$SEED-d$d"
    # shellcheck disable=SC2086
    run "$W/$name/policy.safetensors" "$R" finetune --env so101:lift --dsrl "$W/base-s$SEED" --steps 5000 --warmup 1500 \
        --utd 4 --eval-every 500 --eval-episodes 50 --checkpoint-every 500 --threads 1 --seed "$d" --out "$W/$name" --quiet ${DSRL_OPTS:-}
    run "$W/eval-$name.json" "$R" eval --policy "$W/base-s$SEED" $E --dsrl "$W/$name" --out "$W/eval-$name.json"
    echo "$name: trainer starts $(awk -F, 'NR>1 && $3!="" {printf "%s:%.0f%% ", $1, 100*$5}' "$W/$name/metrics.csv")"
    echo "$name: held-out $(held_out "$W/eval-$name.json")"
done

# V-GPS: the rollouts keep the camera's frame at every step; the critics see the encoder's features of it.
run "$W/rollouts-s$SEED" "$R" eval --policy "$W/base-s$SEED" --episodes 300 --seed 20000 --workers 2 --quiet \
    --out "$W/rollouts-s$SEED.json" --record "$W/rollouts-s$SEED"
run "$W/value-s$SEED" "$R" train-value --policy "$W/base-s$SEED" --data "$W/demos" "$W/rollouts-s$SEED" --out "$W/value-s$SEED" \
    --steps 20000 --threads 1
for sel in argmax softmax; do
    run "$W/eval-vgps10-$sel-s$SEED.json" "$R" eval --policy "$W/base-s$SEED" $E --value "$W/value-s$SEED" --k 10 \
        --selection $sel --out "$W/eval-vgps10-$sel-s$SEED.json"
    echo "V-GPS K=10 $sel: held-out $(held_out "$W/eval-vgps10-$sel-s$SEED.json")"
done
