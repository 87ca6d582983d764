#!/usr/bin/env bash
# Runs every fuzz harness built in DIR one after the other (never in parallel: the machines that
# run this are shared), each for SECONDS, or for RUNS executions when RUNS > 0, at the lowest CPU
# priority, and prints one table row per harness: executions, seconds, corpus size, findings.
# Crashing inputs are kept in DIR/findings/fuzz_NAME/; a run with any finding exits 1.
# Usage: tests/fuzz/run.sh DIR SECONDS [RUNS] [HARNESS...]
set -u
dir=${1:?usage: tests/fuzz/run.sh DIR SECONDS [RUNS] [HARNESS...]}
seconds=${2:?usage: tests/fuzz/run.sh DIR SECONDS [RUNS] [HARNESS...]}
runs=${3:-0}
shift $(($# < 3 ? $# : 3))
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/seeds.sh" "$dir/seeds" >/dev/null
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
    for b in "$dir"/fuzz_*; do [ -x "$b" ] && harnesses+=("$(basename "$b")"); done
fi
# -runs bounds the executions; max_total_time stays as the guard when RUNS is given
limit=(-max_total_time="$seconds")
if [ "$runs" -gt 0 ]; then limit=(-runs="$runs"); fi
# rss 2560 MB: the image readers may allocate a 16384-pixel side's frame (768 MiB) legitimately
opts=(-rss_limit_mb=2560 -malloc_limit_mb=2560 -print_final_stats=1 -timeout=25 -max_len=65536)
found=0
printf '| harness | executions | seconds | exec/s | corpus (files) | findings |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
for h in "${harnesses[@]}"; do
    corpus=$dir/corpus/$h findings=$dir/findings/$h log=$dir/logs/$h.log
    mkdir -p "$corpus" "$findings" "$dir/logs"
    start=$(date +%s.%N)
    nice -n 19 "$dir/$h" "${limit[@]}" "${opts[@]}" -artifact_prefix="$findings/" \
        "$corpus" "$dir/seeds/$h" >"$log" 2>&1
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    n_corpus=$(find "$corpus" -type f | wc -l)
    n_found=$(find "$findings" -type f | wc -l)
    if [ "$rc" -ne 0 ] && [ "$n_found" -eq 0 ]; then n_found="exit $rc"; fi
    [ "$n_found" = 0 ] || found=1
    rate=$(awk -v n="${execs:-0}" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    printf '| %s | %s | %.0f | %s | %s | %s |\n' "$h" "${execs:-?}" "$secs" "$rate" "$n_corpus" \
        "$n_found"
done
if [ "$found" -ne 0 ]; then
    echo "findings: see $dir/findings/ and $dir/logs/; reproduce with $dir/HARNESS FILE"
    exit 1
fi
