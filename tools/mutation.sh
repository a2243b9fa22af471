#!/usr/bin/env bash
# Mutation testing of the gradient maths; not part of the CI run (it takes an hour or more on two
# cores). mutmut (the `mutation` extra) mutates qgradbench/methods/, engine/sampling.py and
# circuits/observables.py and runs, for each mutant, the fast tests that cover the mutated
# function (configured under [tool.mutmut] in pyproject.toml). Results are cached in mutants/, so
# a second run only tests what changed. Then tools/mutation_score.py prints the score per module
# and fails if a surviving mutant is not listed, with its reason, in tests/mutation-equivalents.md.
#
# Usage: tools/mutation.sh [MUTANT-GLOB ...]
#   tools/mutation.sh                               # every module
#   tools/mutation.sh "qgradbench.methods.spsa*"    # one module (re-runs its mutants)
# MUTATION_JOBS sets the parallel workers (default: the number of CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
# the CPU count before OMP_NUM_THREADS=1: GNU nproc honours that variable and would say 1
jobs="${MUTATION_JOBS:-$(getconf _NPROCESSORS_ONLN)}"
export OMP_NUM_THREADS=1
python -m mutmut run --max-children "$jobs" "$@"
python tools/mutation_score.py
