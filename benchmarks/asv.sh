#!/usr/bin/env bash
# asv with this project's configuration, from anywhere in the checkout. On a machine asv has not
# seen yet it first records the machine (`asv machine --yes`: its defaults, taken from this
# host), which asv otherwise asks for interactively. Everything else is passed to asv as is:
#
#   benchmarks/asv.sh continuous main~1 main                   # two commits, regressions flagged
#   benchmarks/asv.sh run main~5..main                         # the last five commits
#   benchmarks/asv.sh run --python=same --quick --bench SeedModelStep   # the working tree
#
# Needs the `bench` extra (asv, virtualenv) in the active environment.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
config="$root/benchmarks/asv.conf.json"
if [ ! -f "$HOME/.asv-machine.json" ]; then
    asv machine --yes --config "$config"
fi
exec asv "$1" --config "$config" "${@:2}"
