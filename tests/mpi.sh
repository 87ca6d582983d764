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
skip_all() {
    echo "SKIP: mpi.sh: $1"
    if [ -n "${LV_SKIP_LOG:-}" ]; then echo "SKIP: mpi.sh: $1" >>"$LV_SKIP_LOG"; fi
    if [ "${LV_REQUIRE_ALL:-}" = 1 ]; then
        echo "LV_REQUIRE_ALL=1: the skipped data-parallel checks count as a failure"
        exit 1
    fi
    exit 0
}
if [ -z "$check" ]; then
    skip_all "data-parallel training: this build has no MPI (install libopenmpi-dev openmpi-bin, or run tools/install-deps.sh, then rebuild)"
fi
command -v mpirun >/dev/null 2>&1 || skip_all "data-parallel training: no mpirun (apt-get install openmpi-bin)"

# Open MPI refuses root without these (CI runs as root); 2 cores: more ranks than cores; one
# OpenMP thread per rank. MPICH ignores the OMPI_ variables (and needs no --oversubscribe).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
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

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
