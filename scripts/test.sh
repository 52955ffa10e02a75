#!/usr/bin/env bash
# Runs every test of mqcluster. On a fresh Debian machine it first installs
# what the tests need with apt-get (the packages are listed below).
# Takes about 3 minutes on 2 cores. FUZZTIME sets how long each fuzz target
# runs (default 5s); `make fuzz` runs them longer.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Mosquitto, the external broker of the tests; the C
# toolchain, Paho MQTT C and libFuzzer for the firmware core and its POSIX
# node; the RISC-V cross compiler and picolibc for the ESP32-C3 size check;
# Chromium for the dashboard test.
packages=(mosquitto cmake make gcc clang libclang-rt-14-dev libpaho-mqtt-dev
          gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf perl chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
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

# The firmware core: unit tests under ASan and UBSan, a fuzz smoke run, and
# the rv32imc size report against its budget.
make -s -C firmware test
make -s -C firmware fuzz-smoke
make -s -C firmware size

# The tests fail instead of skipping when Mosquitto, the POSIX node or
# Chromium is missing.
MQC_REQUIRE_MOSQUITTO=1 MQC_REQUIRE_FIRMWARE=1 MQC_REQUIRE_CHROMIUM=1 go test -race -count=1 -timeout 15m ./...

scripts/fuzz.sh "${FUZZTIME:-5s}"
