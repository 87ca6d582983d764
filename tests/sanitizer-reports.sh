#!/usr/bin/env bash
# Prints the sanitizer reports a failed `make check SANITIZE=...` left in DIR (one file per
# process that reported: DIR/report.PID), so that they end the log whatever printed after them.
set -u
dir=${1:?usage: tests/sanitizer-reports.sh DIR}
shopt -s nullglob
reports=("$dir"/report.*)
[ ${#reports[@]} -gt 0 ] || exit 0
echo "make check failed; ${#reports[@]} sanitizer report(s) in $dir:"
for f in "${reports[@]}"; do
    echo "==== $f"
    head -c 6000 "$f"
done
