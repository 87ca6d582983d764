#!/usr/bin/env bash
# Installs, by Debian package name, everything longvivit's build, tests and cross-checks need.
# Idempotent: installs only what is missing. Not root: prints the apt-get line instead.
set -euo pipefail

packages=(
    build-essential pkg-config
    libopenblas-openmp-dev          # the OpenMP build: the pthread one fights our OpenMP loops
    libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
    libpng-dev
    libcairo2-dev fonts-dejavu-core # the pictures: anti-aliased charts and sheets, real fonts
    check
    libcjson-dev
    libutf8proc-dev                 # Unicode for the tokenizer (BERT's categories, case, NFD)
    python3 python3-numpy python3-torch
    python3-nltk                    # make check compares our BLEU-4 with nltk's corpus_bleu
    time                            # /usr/bin/time -v: peak memory as the OS reports it
    libopenmpi-dev openmpi-bin      # data-parallel training (mpirun -np N longvivit train) and
                                    # its tests in make check; any MPI works (MPICH too)
    libdnnl-dev                     # oneDNN: bf16 matmuls (--precision bf16) on AVX512-BF16
                                    # CPUs; OpenBLAS 0.3.21 declares cblas_sbgemm, exports none
)

# optional, only with --fuzz: clang for `make fuzz` (the libFuzzer harnesses of tests/fuzz/,
# not part of make check or CI)
if [ "${1:-}" = --fuzz ]; then packages+=(clang); fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages; run as root:"
    echo "  apt-get update && $line"
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$line
