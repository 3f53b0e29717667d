#!/usr/bin/env bash
# Builds the example embedder package (Reflex by path, only the products it names) and checks that its chunk equals
# `reflex predict`'s for the same observation history and seed. Run from the repository root after `make build`.
set -euo pipefail
flags=(-c release -Xcxx -O3 -Xcxx -march=native)
[ -x .build/release/reflex ] || swift build "${flags[@]}" --product reflex
# Without the cached build manifest: SwiftPM would not notice source files added to Reflex (a path dependency) since
# the example's last build, and compile Reflex's modules without them.
swift build "${flags[@]}" --package-path examples/embed-swift --disable-build-manifest-caching
out=$(examples/embed-swift/.build/release/EmbedReflex policies/so101-lift 7)
echo "$out"
python3 - "$out" <<'PY'
import json, struct, subprocess, sys, tempfile
example = json.loads(next(l for l in sys.argv[1].splitlines() if l.startswith("chunk: "))[7:])
# The same history as the example: h[i] = (i % 7) * 0.05 over n_obs_steps x observation_size values.
import re
yaml = open("policies/so101-lift/policy.yaml").read()
n_obs = int(re.search(r"^n_obs_steps: (\d+)", yaml, re.M).group(1))
obs = int(re.search(r"^observation_size: (\d+)", yaml, re.M).group(1))
values = [(i % 7) * 0.05 for i in range(n_obs * obs)]
header = json.dumps({"observation": {"dtype": "F32", "shape": [n_obs, obs], "data_offsets": [0, 4 * len(values)]}}).encode()
with tempfile.NamedTemporaryFile(suffix=".safetensors", delete=False) as f:
    f.write(struct.pack("<Q", len(header)) + header + struct.pack(f"<{len(values)}f", *values))
out = subprocess.run([".build/release/reflex", "predict", "policies/so101-lift", "--inputs", f.name, "--out", f.name + ".out",
                      "--seed", "7", "--json"], check=True, capture_output=True, text=True).stdout
cli = json.loads(out)["action"]
diff = max(abs(a - b) for a, b in zip(example, cli))
print(f"embedder vs reflex predict: {len(cli)} values, max |difference| {diff}")
sys.exit(0 if example == cli else 1)
PY
