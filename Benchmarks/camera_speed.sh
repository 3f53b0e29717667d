#!/bin/sh
# Reflex against LeRobot's own PyTorch modules on the camera-policy shapes, interleaved so the machine's load hits
# both sides alike: ACT (LeRobot defaults) at 96×96, one 480×640 camera and two, and the image Diffusion Policy's
# ResNet-18 encoder (PushT's 96→84 shape, two images), one thread each. Each line is one process's median over its
# rounds; REPEAT passes of the whole list. The F32 FMA peak (Benchmarks/micro/fma_vs_dpbf16.c) is measured before
# and after, for the GEMM-peak floor (FLOPs / peak).
#   Benchmarks/camera_speed.sh [REFLEX_BINARY ...]     # default .build/release/reflex; several to compare builds
set -e
cd "$(dirname "$0")/.."
PY=${PY:-${REFLEX_PEERS_VENV:-$HOME/.cache/reflex/peers-venv}/bin/python}   # Benchmarks/peers/setup.sh makes it
REPEAT=${REPEAT:-2}
ROUNDS=${ROUNDS:-7}
BINS=${*:-.build/release/reflex}
FMA=/tmp/fma_vs_dpbf16.$$
# The peak micro is written in AVX-512 (and AVX512-BF16): on a CPU without them there is no floor line.
cc -O2 -march=native Benchmarks/micro/fma_vs_dpbf16.c -o $FMA 2>/dev/null || { echo "(no AVX-512 here: FMA peak not measured)"; FMA=true; }
echo "== $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/')"; $FMA | head -1
for pass in $(seq "$REPEAT"); do
  for shape in "--height 96 --width 96 --cameras 1" "--height 480 --width 640 --cameras 1" "--height 480 --width 640 --cameras 2"; do
    for b in $BINS; do
      echo "-- $b act $shape"; $b bench act $shape --threads 1 --rounds "$ROUNDS" --warmup 2 | tail -n +4
    done
    echo "-- torch act $shape"; $PY Benchmarks/peers/act.py $shape --threads 1 --rounds "$ROUNDS" --warmup 2
  done
  for b in $BINS; do
    echo "-- $b encoder"; $b bench encoder --threads 1 --rounds 15 | tail -n +4
  done
  echo "-- torch encoder"; $PY Benchmarks/peers/encoder.py --threads 1 --rounds 15
  echo "== pass $pass done $(uptime | sed 's/.*load/load/')"
done
$FMA | head -1
[ "$FMA" = true ] || rm -f $FMA
