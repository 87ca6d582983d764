# Sourced by the test scripts (tests/mpi.sh, tests/torch/run.sh, tests/experiments.sh): how a
# check that cannot run here says so. lv_skip WHAT WHY prints "SKIP: WHAT: WHY" and appends that
# line to the file named by LV_SKIP_LOG (make check counts and lists them); under
# LV_REQUIRE_ALL=1 (CI, where tools/install-deps.sh installed everything) a skip is a failure:
# it says so and exits 1. Otherwise it returns and the caller goes on or stops.
lv_skip() {
    echo "SKIP: $1: $2"
    if [ -n "${LV_SKIP_LOG:-}" ]; then echo "SKIP: $1: $2" >>"$LV_SKIP_LOG"; fi
    if [ "${LV_REQUIRE_ALL:-}" = 1 ]; then
        echo "LV_REQUIRE_ALL=1: a skipped check ($1) is a failure"
        exit 1
    fi
}
