#!/usr/bin/env bash
# The experiments driver (tools/experiments.sh, make experiments) at its minute-sized scale, as
# make check runs it: every stage runs (the sweeps' trainings and memory measurements, stage 2
# through tools/demo-text.sh, the analytic curves, the report with its plots), a rerun redoes
# nothing, a run whose result is missing (an interrupted one) is redone alone, and a bad scale
# is refused. Usage: tests/experiments.sh build/longvivit
set -u
bin=${1:-build/longvivit}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/skip.sh
. "$here/tests/skip.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "  ok   $1"; }
fail() { failed=$((failed + 1)); echo "  FAIL $1"; }
has() { if grep -q -- "$2" "$3"; then ok "$1"; else fail "$1: no '$2' in $3"; fi; }
drive() { EXP_SCALE=mini EXP_OUT="$tmp/ex" BIN="$bin" bash "$here/tools/experiments.sh" "$@"; }

echo "experiments driver: tools/experiments.sh at EXP_SCALE=mini"
t0=$SECONDS
if drive >"$tmp/first.log" 2>&1; then ok "the mini run finishes ($((SECONDS - t0)) s)"
else fail "the mini run failed"; tail -n 20 "$tmp/first.log"; fi
total=$(sed -n 's/^\[1\/\([0-9]*\)\].*/\1/p' "$tmp/first.log")
results=$(find "$tmp/ex/runs" -name result.json | wc -l)
if [ -n "$total" ] && [ "$results" = "$total" ]; then ok "a result per planned run ($results)"
else fail "$results results for ${total:-?} planned runs"; fi
before=$(grep -c "done before" "$tmp/first.log")
# the test of the rerun check below: on the first run it must not hold
if [ "$before" = 0 ]; then ok "the first run redid nothing from before (the rerun check can fail)"
else fail "the first run found $before runs done before"; fi
r=$tmp/ex/RESULTS.md
for section in "## 1. Memory against accuracy" "## 2. Frames" "## 3. Stage 2" \
    "## 4. At the paper's scale" "## The paper's claims"; do
    has "RESULTS.md has '$section'" "$section" "$r"
done
has "every sweep-1 method has a row" "| temporal-only | " "$r"
has "the frames sweep has both recipes" "| 8 | long | " "$r"
has "the stage-2 table has the no-video floor" "the frozen LM alone" "$r"
has "the analytic model is compared with the OS" "measured / (analytic + baseline)" "$r"
has "each claim has a verdict" "Rule: reproduced when" "$r"
if grep -q "Plots not drawn" "$r"; then
    if grep -q "built without cairo" "$r"; then
        lv_skip experiments "this build draws no pictures, so no plots (apt-get install libcairo2-dev, rebuild)"
    else fail "plots were not drawn: $(grep "Plots not drawn" "$r" | cut -c 1-200)"; fi
else
    n=$(find "$tmp/ex/plots" -name '*.png' | wc -l)
    if [ "$n" -ge 6 ]; then ok "the plots are drawn ($n PNG files)"; else fail "only $n plots"; fi
fi

t0=$SECONDS
drive >"$tmp/second.log" 2>&1 || fail "the rerun failed"
again=$(grep -c "done before" "$tmp/second.log")
if [ "$again" = "$total" ]; then ok "a rerun redoes nothing: $again of $total done before ($((SECONDS - t0)) s)"
else fail "the rerun redid $((total - again)) of $total runs"; fi

# an interrupted run leaves no result: that run alone is redone
victim=$(find "$tmp/ex/runs/memory/mask-0.5" -name result.json | head -n 1)
rm -f "$victim"
drive >"$tmp/third.log" 2>&1 || fail "the resumed run failed"
redone=$(grep -vc "done before" <(grep '^\[' "$tmp/third.log"))
if [ "$redone" = 1 ] && grep -q "mask-0.5 .* in [0-9]* s" "$tmp/third.log" && [ -s "$victim" ]
then ok "a missing result is redone alone (mask-0.5)"
else fail "after removing one result $redone runs were redone"; grep '^\[' "$tmp/third.log" | grep -v "done before"; fi

# the step timings can be redone alone (on a quiet machine): without their files a rerun
# measures them again and trains nothing
n_timing=$(find "$tmp/ex/runs" -name timing.json | wc -l)
find "$tmp/ex/runs" -name timing.json -delete
drive >"$tmp/fourth.log" 2>&1 || fail "the rerun without timings failed"
if [ "$n_timing" -gt 0 ] && [ "$(find "$tmp/ex/runs" -name timing.json | wc -l)" = "$n_timing" ] &&
   [ "$(grep -c "done before" "$tmp/fourth.log")" = "$total" ]; then
    ok "removed timings are measured again ($n_timing), no run redone"
else fail "after removing the timings: $(find "$tmp/ex/runs" -name timing.json | wc -l) of $n_timing, $(grep -c "done before" "$tmp/fourth.log") of $total runs done before"; fi

if EXP_SCALE=huge EXP_OUT="$tmp/bad" BIN="$bin" bash "$here/tools/experiments.sh" >"$tmp/bad.log" 2>&1
then fail "EXP_SCALE=huge was accepted"
elif grep -q "give full or mini" "$tmp/bad.log"; then ok "a bad EXP_SCALE is refused, naming the scales"
else fail "a bad EXP_SCALE failed without saying why"; cat "$tmp/bad.log"; fi

echo "experiments: $passed passed, $failed failed"
[ "$failed" = 0 ]
