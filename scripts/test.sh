#!/usr/bin/env bash
# The test command: unit and integration tests (Swift Testing, real registries), the acceptance
# suite against a release build, then the demo (the README's main job) end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
SHARED=${KILN_SHARED:-$PWD/../shared}

echo "== swift test"
swift test 2>&1 | tee .build-test.log | grep -E "^(✘|✔ Test run|✘ Test run)|^error:|: error:" || true
if ! grep -q "✔ Test run with" .build-test.log; then
  echo "swift test failed (full log: .build-test.log)" >&2
  exit 1
fi

echo "== swift build -c release"
swift build -c release --product kiln 2>&1 | tail -1

# Acceptance sections: all of them unless ACCEPTANCE_SECTIONS names some.
SECTIONS=${ACCEPTANCE_SECTIONS:-}
if [[ -x $SHARED/acceptance/run.sh ]]; then
  echo "== acceptance: ${SECTIONS:-all sections}"
  KILN=$PWD/.build/release/kiln "$SHARED/acceptance/run.sh" $SECTIONS
else
  echo "acceptance suite not found at $SHARED/acceptance (set KILN_SHARED)" >&2
  exit 1
fi

echo "== conformance (BuildKit's Dockerfile corpus)"
scripts/conformance.sh

echo "== demo"
scripts/demo.sh >.build-demo.log 2>&1 || { tail -30 .build-demo.log >&2; echo "demo failed (full log: .build-demo.log)" >&2; exit 1; }
tail -2 .build-demo.log
