#!/usr/bin/env bash
# Regenerate the committed reference runs (one command: `bash results/regenerate.sh`).
#
# Each reference is the run directory of a built-in suite (or the README's training job),
# produced with one worker and one torch thread so that its rows are reproducible bit for bit
# on the same machine with the same package versions, then moved to results/<name>/reference
# with its report (rendered there, so its paths are the reference's). Timing columns are whatever this machine measured.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1

suites=("${@:-smoke default}")
for suite in ${suites[@]}; do
  qgradbench run suite "$suite" --out "$tmp" --workers 1 --threads 1 --quiet --no-report
  rm -rf "results/$suite/reference"
  mkdir -p "results/$suite"
  mv "$tmp/$suite"/* "results/$suite/reference"
  qgradbench report "results/$suite/reference"
done
