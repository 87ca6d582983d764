#!/usr/bin/env bash
# Data-parallel training under MPI (docs/training.md, "Data-parallel training"): the step on 2 and
# 3 ranks against one process with the whole global batch (check_mpi), each check fed a
# deliberately broken input once (it must fail), and the program end to end: mpirun -np 2 train
# against one process with the doubled batch, resume 2 -> 1 rank, a rank that cannot read its
# video, a killed rank.
#   tests/mpi.sh BUILD/longvivit [BUILD/check_mpi]
# Without an MPI build (no check_mpi given) or without mpirun it prints one "SKIP: ..." line,
# counted by make check through LV_SKIP_LOG, and exits 0 (1 under LV_REQUIRE_ALL=1).
set -u
bin=${1:?usage: tests/mpi.sh path/to/longvivit [path/to/check_mpi]}
check=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok()   { passed=$((passed + 1)); echo "  ok   $1"; }
fail() { failed=$((failed + 1)); echo "  FAIL $1"; }
# shellcheck source=tests/skip.sh
. "$(dirname "$0")/skip.sh"
skip_all() { lv_skip mpi.sh "$1"; exit 0; }
if [ -z "$check" ]; then
    skip_all "data-parallel training: this build has no MPI (install libopenmpi-dev openmpi-bin, or run tools/install-deps.sh, then rebuild)"
fi
command -v mpirun >/dev/null 2>&1 || skip_all "data-parallel training: no mpirun (apt-get install openmpi-bin)"

# Open MPI refuses root without these (CI runs as root); 2 cores: more ranks than cores; one
# OpenMP thread per rank. MPICH ignores the OMPI_ variables (and needs no --oversubscribe).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# In a sanitizer build (make check SANITIZE=address,undefined) LeakSanitizer reports Open MPI's
# own allocations at exit, many from its plugins, unloaded by then, so no suppression can name
# them: leak detection is off for the processes mpirun starts (the same code of ours runs under
# it in every single-process test); AddressSanitizer's other checks and UBSan stay on.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
if mpirun --version 2>&1 | grep -q "Open MPI"; then over=(--oversubscribe); else over=(); fi
mpi() { local n=$1; shift; timeout 300 mpirun "${over[@]}" -np "$n" "$@"; }

echo "data-parallel checks ($(mpirun --version 2>&1 | head -1))"
for n in 2 3; do
    if mpi "$n" "$check" >"$tmp/out" 2>&1; then
        ok "$(tail -1 "$tmp/out")"
    else
        fail "check_mpi on $n ranks"
        cat "$tmp/out"
    fi
done
# the comparison must catch each deliberately broken distributed step
for bad in local-negatives unscaled shard; do
    if mpi 2 "$check" --break "$bad" >"$tmp/out" 2>&1; then
        fail "check_mpi --break $bad passed: the comparison cannot see that mistake"
        cat "$tmp/out"
    elif grep -q "FAIL" "$tmp/out"; then
        ok "check_mpi catches --break $bad: $(grep -o 'rel diff [^;]*; gradients worst [0-9.]*' "$tmp/out" | head -1)"
    else
        fail "check_mpi --break $bad stopped without a verdict"
        cat "$tmp/out"
    fi
done

# ---- the program end to end ----------------------------------------------------------------
"$bin" synth --out "$tmp/synth" --videos 12 --frames 8 --size 32 >/dev/null 2>&1 ||
    { fail "synth for the data-parallel runs"; exit 1; }
T=(--data "$tmp/synth/train.jsonl" --set text_len=40 --frames 8 --eval /dev/null --mcq /dev/null
   --lr 1e-3)
meta() { "$bin" inspect "$1" 2>/dev/null | awk -v k="$2" '$1 == "meta" && $2 == k { print $4; exit }'; }
losses() { grep -o '"loss": [-0-9.e]*' "$1/log.jsonl" | awk '{ print $2 }'; }
# same_losses A B LIMIT: every step's loss of run A within LIMIT (relative) of run B's; prints
# the largest difference
same_losses() {
    paste <(losses "$1") <(losses "$2") | awk -v lim="$3" '
        { n++; d = $1 - $2; if (d < 0) d = -d; r = d / ($2 < 0 ? -$2 : $2); if (r > w) w = r }
        END { printf "%d steps, largest loss rel diff %.1e", n, w; exit !(n > 0 && w <= lim) }'
}
# run WHAT CODE cmd...: runs cmd, checks the exit code, keeps the output in $tmp/out
run() {
    local what=$1 code=$2
    shift 2
    "$@" >"$tmp/out" 2>&1
    local got=$?
    if [ "$got" -eq "$code" ]; then return 0; fi
    fail "$what: exit $got, want $code"
    tail -20 "$tmp/out"
    return 1
}

# 2 ranks x B against 1 process x 2B (plain, micro-batches, masking) and 3 ranks with uneven
# micro-batches against 1 x 9: the same samples, the same loss at every step. The loss is
# printed to 6 digits; the steps' parameters differ by fp32 summation order only.
run "1 process, batch 4" 0 "$bin" train "${T[@]}" --batch 4 --steps 6 --out "$tmp/one" &&
run "2 ranks, batch 2" 0 mpi 2 "$bin" train "${T[@]}" --batch 2 --steps 6 --out "$tmp/two" &&
if m=$(same_losses "$tmp/two" "$tmp/one" 2e-6); then ok "mpirun -np 2 train --batch 2 = train --batch 4: $m"
else fail "2 ranks x 2 differ from 1 x 4: $m"; fi
if [ "$(meta "$tmp/two/ckpt.safetensors" data_position)" = "$(meta "$tmp/one/ckpt.safetensors" data_position)" ]
then ok "both consumed the same sample stream (data position $(meta "$tmp/one/ckpt.safetensors" data_position))"
else fail "data positions differ: $(meta "$tmp/two/ckpt.safetensors" data_position) vs $(meta "$tmp/one/ckpt.safetensors" data_position)"; fi
run "2 ranks, micro 2, mask 0.5" 0 mpi 2 "$bin" train "${T[@]}" --batch 4 --micro 2 --mask 0.5 \
    --steps 4 --out "$tmp/two_mm" &&
run "1 process, batch 8, mask 0.5" 0 "$bin" train "${T[@]}" --batch 8 --mask 0.5 --steps 4 \
    --out "$tmp/one_mm" &&
if m=$(same_losses "$tmp/two_mm" "$tmp/one_mm" 2e-6); then ok "2 ranks x (2 micro-batches of 2), mask 0.5 = 1 x 8: $m"
else fail "2 ranks with micro-batches and masking differ from 1 x 8: $m"; fi
run "3 ranks, batch 3, micro 2" 0 mpi 3 "$bin" train "${T[@]}" --batch 3 --micro 2 --mask 0.5 \
    --steps 4 --out "$tmp/three" &&
run "1 process, batch 9" 0 "$bin" train "${T[@]}" --batch 9 --mask 0.5 --steps 4 --out "$tmp/one9" &&
if m=$(same_losses "$tmp/three" "$tmp/one9" 2e-6); then ok "3 ranks x (micro-batches 2 + 1), mask 0.5 = 1 x 9: $m"
else fail "3 ranks with uneven micro-batches differ from 1 x 9: $m"; fi
# the test of that test: a different global batch must not pass it
run "1 process, batch 2" 0 "$bin" train "${T[@]}" --batch 2 --steps 6 --out "$tmp/one2" &&
if m=$(same_losses "$tmp/one2" "$tmp/one" 2e-6); then fail "the loss comparison passes batch 2 against batch 4: $m"
else ok "the loss comparison tells batch 2 from batch 4 ($m)"; fi

# resume: on the same 2 ranks bit for bit; on 1 rank the same global batch and sample stream
# (a checkpoint stores --out, so the interrupted run writes where the whole one did)
mv "$tmp/two" "$tmp/two_full"
run "2 ranks, stop at 3" 0 mpi 2 "$bin" train "${T[@]}" --batch 2 --steps 6 --stop-at 3 \
    --out "$tmp/two" &&
cp -r "$tmp/two" "$tmp/two_at3" &&
run "2 ranks, resume" 0 mpi 2 "$bin" train --resume "$tmp/two/ckpt.safetensors" &&
if cmp -s "$tmp/two/ckpt.safetensors" "$tmp/two_full/ckpt.safetensors"; then
    ok "2 ranks: 3 steps + resume 3 = 6 steps, byte for byte"
else fail "2 ranks: a resumed run differs from the uninterrupted one"; fi
mkdir -p "$tmp/r1" && cp "$tmp/two_at3/log.jsonl" "$tmp/r1/" &&
run "resume a 2-rank run on 1 process" 0 "$bin" train --resume "$tmp/two_at3/ckpt.safetensors" \
    --out "$tmp/r1" &&
if grep -q "resumed on 1 x 4: the same global batch" "$tmp/out"; then ok "resume 2 -> 1 says it keeps the global batch"
else fail "resume 2 -> 1 does not say how the batch is split"; cat "$tmp/out"; fi
if [ "$(meta "$tmp/r1/ckpt.safetensors" data_position)" = "$(meta "$tmp/two_full/ckpt.safetensors" data_position)" ] &&
   m=$(same_losses "$tmp/r1" "$tmp/two_full" 1e-4); then
    ok "2 ranks x 3 steps, then 1 process x 3: the same samples, $m (fp32 order after the resume)"
else fail "resume 2 -> 1 left the sample stream or the losses: ${m:-}"; fi
run "resume on 3 ranks (4 pairs)" 2 mpi 3 "$bin" train --resume "$tmp/r1/ckpt.safetensors" --steps 8 &&
if grep -q "cannot share evenly" "$tmp/out"; then ok "4 pairs on 3 ranks is refused, named (exit 2)"
else fail "resume on 3 ranks: no clear refusal"; cat "$tmp/out"; fi

# a rank that cannot read its video stops every rank, naming itself and the file; the last
# checkpoint stays whole
run "2 ranks, 2 steps" 0 mpi 2 "$bin" train "${T[@]}" --batch 2 --steps 8 --stop-at 2 --out "$tmp/bad" &&
for v in "$tmp"/synth/videos/*; do head -c 100 /dev/urandom >"$v"; done &&
run "a video that does not decode" 1 mpi 2 "$bin" train --resume "$tmp/bad/ckpt.safetensors" &&
if grep -Eq "rank [01] of 2: loader: .*videos/[^ ]*" "$tmp/out" && grep -q "holds step 2" "$tmp/out" &&
   [ "$(meta "$tmp/bad/ckpt.safetensors" step)" = 2 ]; then
    ok "an unreadable video: $(grep -Eo 'rank [01] of 2: loader: [^:]*' "$tmp/out" | head -1) ...; step 2 intact"
else fail "an unreadable video: no message naming the rank and the file, or the checkpoint moved"; cat "$tmp/out"; fi
"$bin" synth --out "$tmp/synth" --videos 12 --frames 8 --size 32 >/dev/null 2>&1

# a killed rank stops the job (the launcher names it); the last checkpoint loads and goes on
mpi 2 "$bin" train "${T[@]}" --batch 2 --steps 100000 --save-every 1 --out "$tmp/kill" \
    >"$tmp/kill.out" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do [ -f "$tmp/kill/ckpt.safetensors" ] && break; sleep 0.1; done
victim=""
for p in $(pgrep -P "$launcher" -d ' ' 2>/dev/null) $(pgrep -d ' ' -f "$tmp/kill" 2>/dev/null); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1\|PMI_RANK=1"; then
        victim=$p; break
    fi
done
if [ -n "$victim" ]; then
    kill -9 "$victim"
    wait "$launcher"
    code=$?
    step=$(meta "$tmp/kill/ckpt.safetensors" step)
    if [ "$code" -ne 0 ] && grep -q "rank 1" "$tmp/kill.out" && [ -n "$step" ] &&
       "$bin" train --resume "$tmp/kill/ckpt.safetensors" --steps $((step + 1)) >"$tmp/out" 2>&1; then
        ok "rank 1 killed: the job stopped (exit $code, '$(grep -o "[^.]*rank 1[^.]*" "$tmp/kill.out" | head -1)'); its step-$step checkpoint resumes"
    else fail "a killed rank: exit $code, step '$step'"; cat "$tmp/kill.out" "$tmp/out"; fi
else
    kill "$launcher" 2>/dev/null; wait "$launcher" 2>/dev/null
    fail "a killed rank: rank 1's process not found"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
