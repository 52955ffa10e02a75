#!/usr/bin/env bash
# Runs every test of mqcluster. On a fresh Debian machine it first installs
# what the tests need: Mosquitto, the external broker the tests run against.
# Takes about 2 minutes on 2 cores. FUZZTIME sets how long each fuzz target
# runs (default 5s); `make fuzz` runs them longer.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

go mod download
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt needed on: $unformatted" >&2
  exit 1
fi
go vet ./...

# The tests fail instead of skipping when Mosquitto is missing.
MQC_REQUIRE_MOSQUITTO=1 go test -race -count=1 -timeout 15m ./...

scripts/fuzz.sh "${FUZZTIME:-5s}"
