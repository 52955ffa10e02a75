#!/usr/bin/env bash
# Cross-builds the firmware core for the ESP32-C3's instruction set (rv32imc)
# with Debian's gcc-riscv64-unknown-elf and picolibc, prints the .text, .data
# and .bss of each object, and checks the budget: under 24 KB of flash
# (.text + .data) and under 4 KB of static RAM (.data + .bss, with the node
# state but without the tile buffer).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/rv32imc
mkdir -p "$out"
cc=riscv64-unknown-elf-gcc
flags=(-march=rv32imc -mabi=ilp32 -Os -std=c11 -Wall -Wextra -Werror -ffunction-sections -fdata-sections
       --specs=picolibc.specs -Icore/include)
objects=()
for src in core/src/*.c size/probe.c; do
  obj="$out/$(basename "${src%.c}").o"
  "$cc" "${flags[@]}" -c "$src" -o "$obj"
  objects+=("$obj")
done
echo "firmware core for rv32imc (-Os, $("$cc" --version | head -n1)):"
riscv64-unknown-elf-size -t "${objects[@]}"
read -r text data bss < <(riscv64-unknown-elf-size -t "${objects[@]}" | awk 'END { print $1, $2, $3 }')
flash=$((text + data))
ram=$((data + bss))
echo "flash (.text + .data): $flash bytes of a 24576-byte budget"
echo "static RAM (.data + .bss): $ram bytes of a 4096-byte budget, tile buffer not counted"
if [ "$flash" -ge 24576 ] || [ "$ram" -ge 4096 ]; then
  echo "over budget" >&2
  exit 1
fi
