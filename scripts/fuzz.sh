#!/usr/bin/env bash
# Runs every Go fuzz target for the given time each (default 5s). New
# interesting inputs are minimized for 1s at most, not the default minute,
# which would eat a short run.
#
# Go 1.26 can end a time-bounded fuzz run with "context deadline exceeded"
# and no failing input (the race of go.dev/issue/75804, fixed in Go 1.27).
# A run that fails that way without writing a reproducer under
# testdata/fuzz/ is reported and not counted as a failure; any other
# failure, or a written reproducer, is.
# Usage: scripts/fuzz.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5s}

# files prints how many files the folder $1 holds, 0 if it does not exist.
files() {
  if [ -d "$1" ]; then ls "$1" | wc -l; else echo 0; fi
}

for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz $pkg $target for $duration"
    corpus="$dir/testdata/fuzz/$target"
    before=$(files "$corpus")
    log=$(mktemp)
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" -fuzzminimizetime 1s "$pkg" >"$log" 2>&1; then
      after=$(files "$corpus")
      if grep -q "context deadline exceeded" "$log" && [ "$after" -eq "$before" ]; then
        echo "fuzz $target: ended with Go's fuzztime deadline race (go.dev/issue/75804) and no failing input; not a failure"
      else
        cat "$log" >&2
        exit 1
      fi
    fi
    rm -f "$log"
  done
done
echo "fuzz: every target ran $duration without a failure"
