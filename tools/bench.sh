#!/usr/bin/env bash
# make bench: our training step (longvivit bench) beside the same step in PyTorch
# (tools/bench_torch.py), row by row, in one run, with the ratio per row.
#   bash tools/bench.sh [PROGRAM]        (default build/longvivit)
# Rows: ViT-Ti ("ti": vit-s with width 192, 3 heads) and ViT-S ("s"), 12 layers, 224 px,
# tubelets 2x16x16 (196 tokens per 2 frames), mask 0: frames 4/16/64 = 392/1568/6272 kept
# tokens, batch 1 and 8. PyTorch runs twice per row: tuned (glibc malloc keeps its memory:
# GLIBC_TUNABLES below) and out of the box (no GLIBC_TUNABLES). Both get OMP_NUM_THREADS.
# OPENBLAS_CORETYPE is left as the environment has it, for both programs.
# Ours runs with --profile: after the table, each row's step broken down by kernel family (matmuls
# by shape, attention, text tower, zeroing, AdamW, ...; longvivit bench --help).
# BENCH_GROWTH=1 runs the cost-growth study instead of the table: ViT-S, batch 1, ms/step and
# peak RSS (from the OS: /usr/bin/time) against kept tokens and threads, with the FLOP split
# (matmul vs attention) per row; writes growth.json, growth-chart.json and growth.png (drawn by
# `longvivit plot`: ms/step against tokens, log-log, one series per thread count, each point
# labelled with attention's share of the FLOPs).
# Environment:
#   BENCH_ROWS="s-1568-1 ti-*"  only the rows whose id (config-kept-batch) matches a pattern
#   BENCH_QUICK=1               only the batch-1 rows
#   BENCH_THREADS=N             threads (default: nproc)
#   BENCH_MEM_GIB=X             address-space limit of every run (default: min(22, 85% of RAM)),
#                               so running out of memory is an error ("OOM"), not the OOM killer;
#                               0: no limit (a sanitizer build needs none)
#   BENCH_OUT=DIR               raw JSON and the table (default build/bench)
#   PYTHON=/usr/bin/python3     the interpreter with torch (Debian's python3-torch)
#   BENCH_GROWTH=1              the growth study (above) instead of the table
# Each row also runs ours with --precision bf16 and PyTorch (tuned) with its forward under bf16
# autocast, where this program runs bf16 here (oneDNN, AVX512-BF16); else those cells say "-".
#   BENCH_GROWTH_FRAMES="4 8 16 32 64"  its frame counts (98 kept tokens per frame)
#   BENCH_GROWTH_THREADS="1 2"  its thread counts
set -u
cd "$(dirname "$0")/.." || exit 1

PROGRAM=${1:-build/longvivit}
PYTHON=${PYTHON:-/usr/bin/python3}
THREADS=${BENCH_THREADS:-$(nproc)}
OUT=${BENCH_OUT:-build/bench}
TUNED_MALLOC="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
mem_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
MEM_GIB=${BENCH_MEM_GIB:-$(awk -v k="$mem_kib" 'BEGIN { g = k * 0.85 / 1048576;
                                                        printf "%.1f", g < 22 ? g : 22 }')}

[ -x "$PROGRAM" ] || { echo "bench: $PROGRAM is not built (make)" >&2; exit 1; }

# the address-space limit of a run of ours, in its subshell (BENCH_MEM_GIB=0: none; a sanitizer
# build reserves terabytes of address space for its shadow memory, which any limit refuses)
mem_limit() {
    [ "$MEM_GIB" = 0 ] || ulimit -v "$(awk -v g="$MEM_GIB" 'BEGIN { printf "%d", g * 1048576 }')"
}
mkdir -p "$OUT" || exit 1
HAVE_TORCH=1
TORCH_VERSION=$("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null) ||
    { HAVE_TORCH=0; TORCH_VERSION="not installed (apt-get install python3-torch)"; }

# one field of the last JSON object of a file (FIRST=1: of the first one), empty when absent or
# null: `bench --precision bf16 --json` writes its fp32 step's object, then the bf16 one
if command -v jq >/dev/null 2>&1; then
    jget() { jq -s -r --arg k "$2" --argjson i "$([ "${FIRST:-0}" = 1 ] && echo 0 || echo -1)" \
                 '.[$i][$k] // empty' "$1" 2>/dev/null; }
else
    jget() {
        "$PYTHON" - "$1" "$2" "${FIRST:-0}" <<'EOF' 2>/dev/null
import json, sys
try:
    lines = open(sys.argv[1]).read().strip().splitlines()
    v = json.loads(lines[0 if sys.argv[3] == "1" else -1]).get(sys.argv[2])
except Exception:
    v = None
if v is not None and v is not False:
    print(v)
EOF
    }
fi

# rows: id (config-kept-batch), config, frames, batch, warm-up, steps (fewer for the big rows);
# kept tokens = frames / 2 tubelets x 196 positions = 98 per frame
ROWS=()
for cfg in ti s; do
    for fb in "4 1 1 3" "4 8 1 3" "16 1 1 3" "16 8 1 2" "64 1 1 2" "64 8 1 1"; do
        read -r f b w n <<<"$fb"
        ROWS+=("$cfg-$(( f * 98 ))-$b $cfg $f $b $w $n")
    done
done

selected() {
    local id=$1 batch=$2 pat
    [ "${BENCH_QUICK:-0}" = 1 ] && [ "$batch" != 1 ] && return 1
    [ -z "${BENCH_ROWS:-}" ] && return 0
    for pat in ${BENCH_ROWS//,/ }; do
        # shellcheck disable=SC2053
        [[ $id == $pat ]] && return 0
    done
    return 1
}

cfg_sets() { [ "$1" = ti ] && echo "--set width=192 --set heads=3"; }

# ours knows --threads? (else OMP_NUM_THREADS alone sets the count); --profile?
OUR_THREADS=()
"$PROGRAM" bench --help 2>&1 | grep -q -- '--threads' && OUR_THREADS=(--threads "$THREADS")
PROFILE=()
"$PROGRAM" bench --help 2>&1 | grep -q -- '--profile' && PROFILE=(--profile)
# bf16 rows where the program runs --precision bf16 here (oneDNN in the build, AVX512-BF16)
HAVE_BF16=0
"$PROGRAM" bench --preset tiny --warmup 0 --steps 1 --no-sgemm --precision bf16 >/dev/null 2>&1 &&
    HAVE_BF16=1

# The "profile" object of bench --json --profile files, as a table per file: families (ms, % of
# the step, GFLOP/s where they do matmuls) and the matmul rows above 1% of the step.
print_profiles() {
    "$PYTHON" - "$@" <<'EOF'
import json, sys
for path in sys.argv[1:]:
    try:
        o = json.loads(open(path).read().strip().splitlines()[-1])
        p = o["profile"]
    except Exception:
        continue
    ms = p["step_ms"]
    name = path.rsplit("/", 1)[-1].removesuffix(".json").removesuffix("-ours")
    print(f"\n{name}: {o['kept_tokens']} tokens x batch {o['batch']}, "
          f"{o['threads']} threads, {ms:.1f} ms/step (profiled steps)")
    print(f"  {'family / row':<46} {'ms':>9} {'%step':>6} {'GFLOP/s':>8}")
    for f in p["families"]:
        rate = f"{f['gflop'] / f['ms'] * 1e3:8.1f}" if f["gflop"] > 0 and f["ms"] > 0 else ""
        print(f"  {f['family']:<46} {f['ms']:9.1f} {100 * f['ms'] / ms:6.1f} {rate}")
        for r in p["rows"]:
            if r["family"] == f["family"] and r["gflop"] > 0 and r["ms"] > 0.01 * ms:
                print(f"    {r['row']:<44} {r['ms']:9.1f} {100 * r['ms'] / ms:6.1f} "
                      f"{r['gflop'] / r['ms'] * 1e3:8.1f}")
EOF
}

# ---- BENCH_GROWTH=1: cost against kept tokens and threads --------------------------------------
growth() {
    local frames=${BENCH_GROWTH_FRAMES:-4 8 16 32 64} threads=${BENCH_GROWTH_THREADS:-1 2}
    local f t id json rss
    local -a files=() timer=()
    echo "cost growth: ViT-S, batch 1, mask 0, 1 warm-up + 1 timed step, cpu backend;" \
         "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), nproc $(nproc);" \
         "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-(unset)}; $(date '+%Y-%m-%d %H:%M:%S %Z')"
    for t in $threads; do
        for f in $frames; do
            id=growth-$(( f * 98 ))-t$t json=$OUT/$id.json
            rm -f "$OUT/$id.rss"
            timer=()
            [ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%M" -o "$OUT/$id.rss")
            ( mem_limit
              OMP_NUM_THREADS=$t exec "${timer[@]}" "$PROGRAM" bench --preset vit-s \
                  --frames "$f" --batch 1 --warmup 1 --steps 1 --backend cpu --json --profile ) \
                >"$json" 2>"$OUT/$id.err"
            rss=""
            [ -s "$OUT/$id.rss" ] && rss=$(tail -n 1 "$OUT/$id.rss")
            printf '%s\n' "$rss" >"$OUT/$id.rss"
            files+=("$json")
        done
    done
    "$PYTHON" - "$OUT" "${files[@]}" <<'EOF'
import json, os, sys
out, rows, missing = sys.argv[1], [], 0
for path in sys.argv[2:]:
    try:
        o = json.loads(open(path).read().strip().splitlines()[-1])
    except Exception:
        print(f"{path}: no result (see {path[:-5]}.err)")
        missing += 1
        continue
    p = o.get("profile", {"rows": []})
    attn = sum(r["gflop"] for r in p["rows"] if r["row"].startswith("attention"))
    total = sum(r["gflop"] for r in p["rows"])
    rss = open(path[:-5] + ".rss").read().strip()
    rows.append({"kept_tokens": o["kept_tokens"], "threads": o["threads"],
                 "ms_per_step": o["ms_per_step"], "gflop_per_step": o["gflop_per_step"],
                 "gflops": o["gflops"], "sgemm_gflops": o["sgemm_gflops"],
                 "ratio_sgemm": o["ratio_sgemm"],
                 "peak_rss_mib": float(rss) / 1024 if rss.isdigit() else o["peak_rss_mib"],
                 "peak_rss_from": "/usr/bin/time" if rss.isdigit() else "getrusage",
                 "matmul_gflop": total - attn, "attention_gflop": attn,
                 "attention_share": attn / total if total > 0 else None,
                 "openblas_core": o["openblas_core"]})
json.dump({"rows": rows}, open(os.path.join(out, "growth.json"), "w"), indent=1)
print(f"{'tokens':>6} {'thr':>3} | {'ms/step':>9} {'GFLOP/s':>7} {'%sgemm':>6} {'peak MiB':>8} | "
      f"{'matmul GFLOP':>12} {'attn GFLOP':>10} {'attn %':>6}")
for r in rows:
    print(f"{r['kept_tokens']:>6} {r['threads']:>3} | {r['ms_per_step']:9.1f} {r['gflops']:7.1f} "
          f"{100 * (r['ratio_sgemm'] or 0):6.0f} {r['peak_rss_mib']:8.0f} | "
          f"{r['matmul_gflop']:12.1f} {r['attention_gflop']:10.1f} "
          f"{100 * (r['attention_share'] or 0):6.1f}")
series = []
for t in sorted({r["threads"] for r in rows}):
    pts = []
    for r in rows:
        if r["threads"] == t:
            pts.append({"x": r["kept_tokens"], "y": r["ms_per_step"]})
            if not series and r["attention_share"] is not None:
                pts[-1]["label"] = f"attn {100 * r['attention_share']:.0f}%"
    series.append({"name": f"{t} thread{'s' if t > 1 else ''}", "line": True, "points": pts})
chart = {"title": "ViT-S training step, batch 1 (labels: attention's share of the FLOPs)",
         "x_title": "kept video tokens", "y_title": "ms per step", "x_log": True, "y_log": True,
         "series": series}
json.dump(chart, open(os.path.join(out, "growth-chart.json"), "w"), indent=1)
sys.exit(1 if missing or not rows else 0)
EOF
    local rc=$?          # 1: a row gave no result (the study and chart hold the others)
    if "$PROGRAM" plot "$OUT/growth-chart.json" --png "$OUT/growth.png"; then
        echo "growth study: $OUT/growth.json, $OUT/growth-chart.json, $OUT/growth.png"
    else
        rc=1
    fi
    return $rc
}
if [ "${BENCH_GROWTH:-0}" = 1 ]; then
    growth
    exit
fi

fmt() { if [ -n "$2" ]; then printf "%$1" "$2"; else echo "-"; fi; }

run_ours() {    # id frames batch warm-up steps sets...
    local id=$1 f=$2 b=$3 w=$4 n=$5; shift 5
    local json=$OUT/$id-ours.json
    ( mem_limit
      OMP_NUM_THREADS=$THREADS exec "$PROGRAM" bench --preset vit-s "$@" --frames "$f" \
          --batch "$b" --warmup "$w" --steps "$n" --backend cpu --json "${OUR_THREADS[@]}" \
          "${PROFILE[@]}" ) \
        >"$json" 2>"$OUT/$id-ours.err"
}

# the same step with bf16 matmul operands (--precision bf16), where this build and CPU have them
run_ours_bf16() {    # id frames batch warm-up steps sets...
    local id=$1 f=$2 b=$3 w=$4 n=$5; shift 5
    local json=$OUT/$id-ours-bf16.json
    [ "$HAVE_BF16" = 1 ] || { : >"$json"; return; }
    ( mem_limit
      OMP_NUM_THREADS=$THREADS exec "$PROGRAM" bench --preset vit-s "$@" --frames "$f" \
          --batch "$b" --warmup "$w" --steps "$n" --backend cpu --precision bf16 --no-sgemm \
          --json "${OUR_THREADS[@]}" ) \
        >"$json" 2>"$OUT/$id-ours-bf16.err"
}

run_torch() {   # kind(tuned|default|bf16) id frames batch warm-up steps sets...
    local kind=$1 id=$2 f=$3 b=$4 w=$5 n=$6; shift 6
    local json=$OUT/$id-torch-$kind.json env=(env -u GLIBC_TUNABLES) extra=()
    [ "$kind" != default ] && env=(env "GLIBC_TUNABLES=$TUNED_MALLOC")
    [ "$kind" = bf16 ] && extra=(--bf16)      # tuned, with the forward under bf16 autocast
    [ "$HAVE_TORCH" = 1 ] || { : >"$json"; return; }
    [ "$kind" != bf16 ] || [ "$HAVE_BF16" = 1 ] || { : >"$json"; return; }
    "${env[@]}" OMP_NUM_THREADS="$THREADS" "$PYTHON" tools/bench_torch.py --longvivit "$PROGRAM" \
        --preset vit-s "$@" --frames "$f" --mask 0 --batch "$b" --warmup "$w" --steps "$n" \
        --threads "$THREADS" --mem-limit-gib "$MEM_GIB" "${extra[@]}" --json \
        >"$json" 2>"$OUT/$id-torch-$kind.err"
}

# a cell: the figure, OOM, or FAIL (see the .err file)
ours_cell() {   # json err printf-format key
    local v; v=$(jget "$1" "$3")
    if [ -n "$v" ]; then printf "%$2" "$v"
    elif grep -qiE 'out of memory|cannot allocate|alloc' "${1%.json}.err" 2>/dev/null; then
        echo OOM
    else echo FAIL; fi
}
torch_cell() {  # json printf-format key
    local v; v=$(jget "$1" "$3")
    if [ -n "$v" ]; then printf "%$2" "$v"
    elif [ "$HAVE_TORCH" = 0 ]; then echo "-"
    elif [ "$(jget "$1" oom)" = true ]; then echo OOM
    else echo FAIL; fi
}

TABLE=$OUT/table.txt
{
    echo "longvivit bench vs PyTorch, $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), nproc $(nproc)," \
         "threads $THREADS, memory limit per run $MEM_GIB GiB"
    echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-(unset)} (benchmarked with the environment as it is)"
    echo "ours: $("$PROGRAM" version 2>/dev/null | head -n 1); torch: $TORCH_VERSION" \
         "(tuned: GLIBC_TUNABLES=$TUNED_MALLOC; default: no GLIBC_TUNABLES)"
    echo "steady-state median ms per training step (forward + backward + AdamW); ratio = torch" \
         "tuned / ours (above 1: ours is faster)"
    if [ "$HAVE_BF16" = 1 ]; then
        echo "bf16: ours with --precision bf16 (bf16 matmul operands, fp32 accumulation; speed-up" \
             "= its fp32 step / its bf16 step, in one process); torch tuned with its forward" \
             "under bf16 autocast;" \
             "bf16 ratio = torch bf16 / ours bf16"
    else
        echo "bf16: not run ($("$PROGRAM" bench --preset tiny --warmup 0 --steps 1 --no-sgemm \
             --precision bf16 2>&1 >/dev/null | tail -n 1))"
    fi
    echo
    printf "%-4s %6s %5s | %10s %7s %7s %8s | %10s %10s %6s %8s | %9s %6s %9s %6s\n" config kept \
        batch "ours ms" GFLOP/s "%sgemm" "peak MiB" "torch ms" "default ms" ratio "torch MiB" \
        "bf16 ms" speed "torch bf16" ratio
    printf -- "-%.0s" {1..140}; echo
} | tee "$TABLE"

for row in "${ROWS[@]}"; do
    read -r id cfg f b w n <<<"$row"
    selected "$id" "$b" || continue
    # shellcheck disable=SC2046
    run_ours "$id" "$f" "$b" "$w" "$n" $(cfg_sets "$cfg")
    # shellcheck disable=SC2046
    run_torch tuned "$id" "$f" "$b" "$w" "$n" $(cfg_sets "$cfg")
    # shellcheck disable=SC2046
    run_torch default "$id" "$f" "$b" "$w" "$n" $(cfg_sets "$cfg")
    # shellcheck disable=SC2046
    run_ours_bf16 "$id" "$f" "$b" "$w" "$n" $(cfg_sets "$cfg")
    # shellcheck disable=SC2046
    run_torch bf16 "$id" "$f" "$b" "$w" "$n" $(cfg_sets "$cfg")
    o=$OUT/$id-ours.json tt=$OUT/$id-torch-tuned.json td=$OUT/$id-torch-default.json
    ob=$OUT/$id-ours-bf16.json tb=$OUT/$id-torch-bf16.json
    ours_ms=$(jget "$o" ms_per_step) torch_ms=$(jget "$tt" ms_per_step)
    bf_ms=$(jget "$ob" ms_per_step) tbf_ms=$(jget "$tb" ms_per_step)
    ratio=- speed=- bratio=- bf_cell=- tbf_cell=-
    [ -n "$ours_ms" ] && [ -n "$torch_ms" ] &&
        ratio=$(awk -v t="$torch_ms" -v o="$ours_ms" 'BEGIN { printf "%.2f", t / o }')
    if [ "$HAVE_BF16" = 1 ]; then
        bf_cell=$(ours_cell "$ob" .1f ms_per_step) tbf_cell=$(torch_cell "$tb" .1f ms_per_step)
        # the speed-up within the bf16 run's own process: its fp32 step, then its bf16 one
        bf_fp32_ms=$(FIRST=1 jget "$ob" ms_per_step)
        [ -n "$bf_fp32_ms" ] && [ -n "$bf_ms" ] &&
            speed=$(awk -v f="$bf_fp32_ms" -v b="$bf_ms" 'BEGIN { printf "%.2fx", f / b }')
        [ -n "$bf_ms" ] && [ -n "$tbf_ms" ] &&
            bratio=$(awk -v t="$tbf_ms" -v o="$bf_ms" 'BEGIN { printf "%.2f", t / o }')
    fi
    printf "%-4s %6s %5s | %10s %7s %7s %8s | %10s %10s %6s %8s | %9s %6s %9s %6s\n" "$cfg" \
        "$(( f * 98 ))" "$b" \
        "$(ours_cell "$o" .1f ms_per_step)" "$(fmt .1f "$(jget "$o" gflops)")" \
        "$(fmt .0f "$(awk -v g="$(jget "$o" gflops)" -v s="$(jget "$o" sgemm_gflops)" \
                         'BEGIN { if (g != "" && s > 0) print 100 * g / s }')")" \
        "$(fmt .0f "$(jget "$o" peak_rss_mib)")" \
        "$(torch_cell "$tt" .1f ms_per_step)" "$(torch_cell "$td" .1f ms_per_step)" "$ratio" \
        "$(fmt .0f "$(jget "$tt" peak_rss_mib)")" "$bf_cell" "$speed" "$tbf_cell" "$bratio" \
        | tee -a "$TABLE"
done
PROFILED=()
for row in "${ROWS[@]}"; do
    read -r id cfg f b w n <<<"$row"
    selected "$id" "$b" && PROFILED+=("$OUT/$id-ours.json")
done
[ "${#PROFILE[@]}" -gt 0 ] && [ "${#PROFILED[@]}" -gt 0 ] &&
    { echo; echo "where ours spends a step (bench --profile)"; print_profiles "${PROFILED[@]}"; } |
    tee -a "$TABLE"
echo "raw JSON (one object per file) and this table: $OUT/"
