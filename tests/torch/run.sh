#!/usr/bin/env bash
# The independent PyTorch cross-check of the golden model cases (tests/torch/check.py), as run
# by `make check`. When Debian's python3-torch (or the golden files) are missing it prints
# "SKIP: ..." and exits 0, or 1 under LV_REQUIRE_ALL=1 (CI, where tools/install-deps.sh installed
# everything), and appends the line to the file named by LV_SKIP_LOG; otherwise its exit status
# is check.py's. Usage: tests/torch/run.sh [LOG]   (LOG: the full per-tensor table)
#   PYTHON=/usr/bin/python3   the interpreter with torch (another python3 may come first on PATH)
#   GOLDEN=DIR                the golden folder (default: the repository's golden/)
#   TORCH_CHECK_ARGS="..."    more check.py options (--kernels is added when there are kernel cases)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
log=${1:-}
golden=${GOLDEN:-$root/golden}

# shellcheck source=tests/skip.sh
. "$here/../skip.sh"
skip() { lv_skip "torch cross-check" "$1"; exit 0; }

if ! "$PYTHON" -c 'import torch, numpy' >/dev/null 2>&1; then
    skip "$PYTHON cannot import torch and numpy (apt-get install python3-torch python3-numpy, or bash tools/install-deps.sh)"
fi
if ! ls "$golden"/models/*.safetensors >/dev/null 2>&1; then
    skip "no golden model cases in $golden/models (make golden writes them)"
fi
kernels=
ls "$golden"/kernels/*.safetensors >/dev/null 2>&1 && kernels=--kernels
export OMP_NUM_THREADS=1
echo "torch cross-check: $golden/models against tests/torch/model.py${log:+ (table: $log)}"
# shellcheck disable=SC2086
exec "$PYTHON" "$here/check.py" --golden "$golden" --quiet $kernels ${log:+--log "$log"} \
    ${TORCH_CHECK_ARGS:-}
