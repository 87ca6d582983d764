#!/usr/bin/env bash
# End-to-end checks of the longvivit program: exit codes, messages that name the file, and that
# docs/tolerances.md is the table the program prints. Usage: tests/cli.sh BUILD/longvivit
set -u
bin=${1:?usage: tests/cli.sh path/to/longvivit}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok()   { passed=$((passed + 1)); echo "  ok   $1"; }
fail() { failed=$((failed + 1)); echo "  FAIL $1"; }
# expect CODE "what" cmd...: runs cmd, checks its exit code, keeps its output in $tmp/out
expect() {
    local code=$1 what=$2
    shift 2
    "$@" >"$tmp/out" 2>&1
    local got=$?
    if [ "$got" -eq "$code" ]; then ok "$what (exit $got)"; else fail "$what: exit $got, want $code"; cat "$tmp/out"; fi
}
contains() {
    if grep -q -- "$2" "$tmp/out"; then ok "$1"; else fail "$1: output lacks '$2'"; cat "$tmp/out"; fi
}

# a safetensors file: 8-byte little-endian header length, JSON header, data (two F32: 1.0, -2.0)
write_st() {   # write_st FILE HEADER DATA_HEX
    local len=${#2}
    printf "$(printf '\\x%02x' $((len & 255)) $(((len >> 8) & 255)) 0 0 0 0 0 0)" >"$1"
    printf '%s' "$2" >>"$1"
    printf "$3" >>"$1"
}
header='{"__metadata__":{"config":"tiny"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
write_st "$tmp/good.safetensors" "$header" '\x00\x00\x80\x3f\x00\x00\x00\xc0'
write_st "$tmp/short.safetensors" "$header" '\x00\x00\x80\x3f'

echo "cli: $bin"
expect 0 "version" "$bin" version
contains "version names the matmul library" "matmul:"
expect 0 "help" "$bin" help
expect 2 "unknown command" "$bin" frobnicate
contains "unknown command is named" "frobnicate"
expect 0 "inspect a valid file" "$bin" inspect "$tmp/good.safetensors"
contains "inspect lists the tensor" "w .*F32 .*\[2\]"
contains "inspect lists the metadata" "config = tiny"
expect 1 "inspect a truncated file" "$bin" inspect "$tmp/short.safetensors"
contains "truncation message names the file" "short.safetensors"
expect 1 "inspect a missing file" "$bin" inspect "$tmp/missing.safetensors"
contains "missing-file message names the file" "missing.safetensors"
expect 2 "inspect without a file" "$bin" inspect
expect 0 "gradcheck of one variant" "$bin" gradcheck --variant mask-tube --probes 1 --json
contains "gradcheck ends with its JSON summary" '^{"variants": 1, "failed": 0, "max_rel_err": '
expect 2 "gradcheck of an unknown variant" "$bin" gradcheck --variant sideways
contains "the unknown variant is named" "sideways"
expect 0 "train --dry-run" "$bin" train --dry-run --preset vit-b --frames 128 --mask 0.75 --batch 1
contains "dry run prints the configuration" "^mask_ratio=0.75"
contains "dry run counts the video tower" "video tower *87421440"
contains "dry run prints the kept tokens" "kept after masking: 3136"
expect 2 "train with a bad config value" "$bin" train --dry-run --set attn=sideways
contains "the bad value is named" "attn=sideways"
expect 2 "train without --dry-run (training is issue #5)" "$bin" train
expect 0 "synth writes a small benchmark" "$bin" synth --out "$tmp/synth" --videos 4 --frames 8 --size 32
contains "synth names its files" "train.jsonl test.jsonl mcq.jsonl vocab.txt"
expect 0 "frames writes a contact sheet" "$bin" frames "$tmp/synth/videos/v0000.mp4" \
    --max-frames 8 --size 32 --patch 8 --mask 0.75 --png "$tmp/sheet.png"
contains "frames prints each sample's source frame" "sample   7  t=   7.000s  <- frame #14 at 7.000s"
if [ -s "$tmp/sheet.png" ]; then ok "the sheet exists"; else fail "no sheet written"; fi
printf 'not a video\n' >"$tmp/fake.mp4"
expect 1 "frames of a file that is not a video" "$bin" frames "$tmp/fake.mp4" --png "$tmp/x.png"
contains "the bad video is named" "fake.mp4"
expect 1 "synth into an unwritable place" "$bin" synth --out /proc/none --videos 1
expect 0 "tolerances" "$bin" tolerances --markdown
docs=$(dirname "$0")/../docs/tolerances.md
if diff <(grep '^|' "$docs") "$tmp/out" >/dev/null; then
    ok "docs/tolerances.md matches the table (make docs regenerates it)"
else
    fail "docs/tolerances.md is stale: run make docs"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
