#!/usr/bin/env bash
# kill -9 of the daemon with an emulated arm, for both bus families:
#   koch  (Dynamixel XL430/XL330): the servos' Bus Watchdog (address 98, armed by the daemon at 100 ms) trips and
#          they stop where they are (register reads 255 = -1, Bus Watchdog Error; torque stays on, goals read-only);
#   so101 (Feetech STS3215): no bus watchdog exists; the servos keep torque and go on to their last goal.
# Then a restarted daemon comes up inactive: torque off, watchdog cleared, no motion until told.
#   Benchmarks/serve_kill9.sh [koch|so101 ...]     (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
R=.build/release/reflex
[ -x "$R" ] || { echo "build first: swift build -c release --product reflex"; exit 1; }
tmp=$(mktemp -d /tmp/reflex-kill9.XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

read_reg() { # robot bus id register
  $R servo read --bus "$2" --port "$tmp/$1.link" --id "$3" --register "$4" --retries 1 2>&1 | tail -1
}
status() { curl -s --unix-socket "$tmp/$1.sock" http://x/v1/status; }
field() { python3 -c "import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

for robot in "${@:-koch so101}"; do
  bus=$([ "$robot" = koch ] && echo dynamixel || echo feetech)
  echo "== $robot ($bus) =="
  $R emulate --robot "$robot" --link "$tmp/$robot.link" > "$tmp/$robot-emu.log" 2>&1 &
  emu=$!
  sleep 1.5
  cat > "$tmp/$robot.yaml" <<YAML
arm:
  robot: $robot
  port: $tmp/$robot.link
  zero_features: true      # a dry run: no camera, the lift policy sees zeros for the cube
  bus_watchdog_ms: 100
policies:
  lift: $PWD/policies/so101-lift
listen: unix:$tmp/$robot.sock
rate: 50
YAML
  $R serve --config "$tmp/$robot.yaml" --log-level warning > "$tmp/$robot-serve.log" 2>&1 &
  daemon=$!
  for _ in $(seq 50); do [ -S "$tmp/$robot.sock" ] && break; sleep 0.1; done
  curl -s --unix-socket "$tmp/$robot.sock" -XPOST http://x/v1/episode/start -H 'content-type: application/json' \
    -d '{"policy": "lift"}' > /dev/null
  sleep 2
  echo "running: lifecycle $(status $robot | field 's["controller"]["lifecycle"]'), ticks $(status $robot | field 's["controller"]["loop"]["counters"]["ticks"]'), shoulder_lift command $(status $robot | field 'round(s["sample"]["command"][1], 4)') rad"
  kill -9 $daemon
  wait $daemon 2>/dev/null || true
  echo "kill -9 at $(date +%T.%N | cut -c1-12)"
  sleep 0.5
  for t in 0.5 1.5; do
    line="after ${t} s:"
    for reg in Torque_Enable Goal_Position Present_Position $([ $bus = dynamixel ] && echo Bus_Watchdog); do
      line="$line $reg=$(read_reg $robot $bus 2 $reg | grep -oE '= *-?[0-9]+' | tr -d '= ' | head -1)"
    done
    echo "  servo 2 $line"
    sleep 1
  done
  # Restart: the new daemon must come up inactive (torque off) and clear the watchdog.
  $R serve --config "$tmp/$robot.yaml" --log-level warning > "$tmp/$robot-serve2.log" 2>&1 &
  daemon=$!
  for _ in $(seq 50); do [ -S "$tmp/$robot.sock" ] && curl -s --unix-socket "$tmp/$robot.sock" http://x/v1/status > /dev/null && break; sleep 0.1; done
  echo "restarted: lifecycle $(status $robot | field 's["controller"]["lifecycle"]'), running $(status $robot | field 's["controller"]["running"]')"
  kill -TERM $daemon; wait $daemon || true
  line="after restart + SIGTERM:"
  for reg in Torque_Enable $([ $bus = dynamixel ] && echo Bus_Watchdog); do
    line="$line $reg=$(read_reg $robot $bus 2 $reg | grep -oE '= *-?[0-9]+' | tr -d '= ' | head -1)"
  done
  echo "  servo 2 $line"
  kill $emu; wait $emu 2>/dev/null || true
done
