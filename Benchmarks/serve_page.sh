#!/usr/bin/env bash
# The status page in headless Chromium: runs the browser test against a live daemon (fake arm, an episode running)
# and saves its screenshot. Needs `apt-get install chromium`.
#   Benchmarks/serve_page.sh [OUT.png]   (default docs/status-page.png)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/status-page.png}"
swift build -c release -Xcxx -O3 -Xcxx -march=native --build-tests -Xswiftc -enable-testing >/dev/null
REFLEX_STATUS_SCREENSHOT="$PWD/$out" swift test -c release -Xcxx -O3 -Xcxx -march=native -Xswiftc -enable-testing \
  --skip-build --filter StatusPageBrowserTests
echo "screenshot: $out"
