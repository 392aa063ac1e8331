#!/usr/bin/env bash
# The benchmarks under Wine (Windows CPython on hcsim's DLLs) beside the same benchmarks run
# natively, in one invocation (issue 13). Figures under Wine are Wine's, not Windows'.
#
#   bash tools/wine/run_bench.sh [--quick] [--repeat N] [NAME...]
#
# NAME: benchmarks to run (bench_events.py, events, ...; default: every benchmarks/bench_*.py).
# Each repeat runs benchmarks/run_all.py under Wine (tools/wine/run_suite.sh --python: the
# same preparation as the test suite, cached) and then natively (with $PYTHON, which must
# import aiohcs; what Wine's run skipped as a whole, such as the callgrind benchmark, is left
# out), interleaved so that the load of the machine hits both sides alike; then
# tools/wine/bench_table.py prints, per benchmark row, the ratio columns of both sides
# (median and min..max over the repeats). Benchmarks that cannot run on Windows say why
# ("skipped: ..."). The JSON lines of every run are left in .cache/wine-bench/.
#
# Options:
#   --quick       each benchmark's --quick (the CI smoke)
#   --repeat N    N runs of each side (default 1)
# Environment: PYTHON (default python3), and run_suite.sh's.
# Exit status: 1 if a benchmark failed on either side.
set -euo pipefail
cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../.."
PYTHON=${PYTHON:-python3}
quick=() repeat=1
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=(--quick) ;;
    --repeat) repeat=${2:?--repeat needs a count}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
    esac
    shift
done
# Relative to the repository root, which both sides run from (so the Windows side needs
# no path translation).
out=.cache/wine-bench
rm -rf "$out"
mkdir -p "$out"
rc=0 native=() wine=()
for ((i = 1; i <= repeat; i++)); do
    echo "==== run $i/$repeat: under Wine"
    bash tools/wine/run_suite.sh --python benchmarks/run_all.py "${quick[@]}" \
        --json "$out/wine-$i.jsonl" "$@" || rc=1
    echo "==== run $i/$repeat: native ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"
    touch "$out/wine-$i.jsonl"
    "$PYTHON" benchmarks/run_all.py "${quick[@]}" --json "$out/native-$i.jsonl" \
        --like "$out/wine-$i.jsonl" "$@" || rc=1
    native+=("$out/native-$i.jsonl") wine+=("$out/wine-$i.jsonl")
done
"$PYTHON" tools/wine/bench_table.py --native "${native[@]}" --wine "${wine[@]}" || rc=1
exit "$rc"
