#!/usr/bin/env bash
# tools/gpu-check.sh: everything issue 14 asks of a GPU, in one run on a lent GPU machine
# (docs/cuda.md). Such a machine has the NVIDIA driver, nvcc, cuBLAS, compute-sanitizer and
# PyTorch with CUDA, but none of our Debian packages and no network, so the program is built
# HERE and carried there with the libraries it needs (the bundle).
#
#   tools/gpu-check.sh --prepare [--build DIR] [--program PATH] [--bundle DIR]
#       here: builds the cuda program without OpenBLAS (make NO_BLAS=1 BUILD=DIR cuda; default
#       DIR build/gpu; the GPU path's matmuls are cuBLAS) unless --program names one, and writes
#       the bundle (default build/gpu-bundle; make gpu-bundle does both): bin/longvivit; lib/
#       the non-system libraries it needs (ldd), with FFmpeg and cairo replaced by shims that
#       abort if called (nothing on the GPU path decodes video or draws); cxx/ libstdc++ and
#       libgcc_s; sys/ the C library and its loader; a `longvivit` wrapper that runs the program
#       with the machine's own libraries if they suffice, else with ours (env.sh).
#   tools/gpu-check.sh OUTDIR [--bundle DIR | --program PATH] [--no-bench] [--dry-run] [--summary-only]
#       on the GPU machine, from the repository root (the device tool: carry the bundle folder):
#       1. the card (nvidia-smi)
#       2. golden --check golden --backend cuda --port: every kernel and model case
#       3. determinism: that run twice, outputs compared byte for byte (below)
#       4. compute-sanitizer memcheck and racecheck over one kernel and one model case
#       5. (unless --no-bench) longvivit bench --backend cuda beside tools/bench_torch.py
#          --device cuda, the same training step in PyTorch on the same card: ViT-B 256 frames
#          75% masked batch 1 and 8, ViT-S 1568 tokens batch 8
#       and writes OUTDIR/summary.json and OUTDIR/table.txt (plus every raw output and log.txt).
#       --program runs a program built on this machine instead of the bundle (make cuda-check).
#       --summary-only rewrites summary.json and table.txt from what OUTDIR holds (a cut-off run).
#       --dry-run (no GPU needed): prints every command it would run and checks that everything
#       it needs is in place (the bundle and that it runs here, golden/, the sanitizer subset as
#       the checker reads it, bench_torch.py --device, the summary writer).
#
# Determinism: both golden runs write the backend's outputs (golden --check --dump, outside
# OUTDIR), and every case file of the two must be identical byte for byte.
#
# Exit status: 0 everything passed (dry run: everything in place); 1 a check failed or something
# is missing; 2 usage; 3 (dry run) only pending work is missing: the cuda program does not build
# yet or bench_torch.py has no --device.
#
# Environment: GPU_CHECK_BUDGET_S (default 450: later bench rows are skipped past it),
# GPU_CHECK_SAN_CASES (default "kernels/attention_long models/frame_attn_masked"),
# GPU_CHECK_ROWS (bench rows to run, default all: s-1568-8 b-6272-1 b-6272-8),
# PYTHON (default python3: the interpreter with torch), LV_BUNDLE_MODE and LV_CUBLAS_DIR
# (force how the bundle runs: A the machine's libraries, B plus our libstdc++, C our C library
# and loader too; where libcublas lives).
set -u
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2

usage() {
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

PREPARE=0 DRY=0 BENCH=1 SUMMARY_ONLY=0 OUTDIR="" PROGRAM="" BUILD_DIR=build/gpu BUNDLE=build/gpu-bundle
while [ $# -gt 0 ]; do
    case $1 in
        --prepare) PREPARE=1 ;;
        --dry-run) DRY=1 ;;
        --no-bench) BENCH=0 ;;
        --summary-only) SUMMARY_ONLY=1 ;;
        --program) [ $# -ge 2 ] || usage; PROGRAM=$2; shift ;;
        --bundle) [ $# -ge 2 ] || usage; BUNDLE=$2; shift ;;
        --build) [ $# -ge 2 ] || usage; BUILD_DIR=$2; shift ;;
        -h|--help) usage ;;
        -*) echo "gpu-check: unknown option $1" >&2; usage ;;
        *) [ -z "$OUTDIR" ] || usage; OUTDIR=$1 ;;
    esac
    shift
done

SAN_CASES=${GPU_CHECK_SAN_CASES:-"kernels/attention_long models/frame_attn_masked"}
BUDGET=${GPU_CHECK_BUDGET_S:-450}
PYTHON=${PYTHON:-python3}
# bench rows: id preset frames mask batch warm-up steps (smallest first: the budget drops the
# largest); kept = frames/2 x 196 x (1 - mask)
ROWS=("s-1568-8 vit-s 16 0 8 1 3"
      "b-6272-1 vit-b 256 0.75 1 1 3"
      "b-6272-8 vit-b 256 0.75 8 1 2")

# ==== --prepare: the bundle =====================================================================

# sonames the GPU path never calls, replaced by shims (each one drags dozens of codec, X11 and
# font libraries along: 200 MB, past what the device tool carries; oneDNN alone is 40 MB)
SHIM_RE='^lib(avformat|avcodec|avutil|swscale|swresample|avfilter|avdevice|postproc|cairo|dnnl)\.so'
SYS_RE='^(ld-linux[-a-z0-9_.]*\.so\.[0-9]+|lib(c|m|mvec|pthread|dl|rt|resolv|util|anl|nsl)\.so\.[0-9.]+)$'
# shim functions that do nothing instead of aborting: every command sets FFmpeg's log level
SHIM_NOOP_RE='^av_log_set_(level|flags|callback)$'
# oneDNN's, which help texts call to say whether bf16 runs: they report no oneDNN instead of
# aborting (dnnl_version NULL, no ISA, every other call dnnl_unimplemented), so --precision bf16
# is refused with a message and fp32 runs
SHIM_DNNL_RE='^dnnl_'
CXX_RE='^lib(stdc\+\+|gcc_s)\.so\.[0-9.]+$'
GPU_RE='^lib(cuda|cublas|cublasLt|cudart|nvidia-[a-z-]+|nvrtc)\.so'

# a shim library with the soname and symbol versions of REAL, defining what PROGRAM imports
# from it as functions that abort with a message
make_shim() {   # PROGRAM SONAME REAL OUTDIR
    local program=$1 soname=$2 real=$3 out=$4 tmp
    tmp=$(mktemp -d) || return 1
    # what the program imports: "version name" (version without parentheses, Base if none)
    objdump -T "$program" | awk '/\*UND\*/ { v = $(NF-1); gsub(/[()]/, "", v); print v, $NF }' \
        | sort -u >"$tmp/imports"
    # what the real library defines: "name type size"
    objdump -T "$real" | awk '!/\*UND\*/ && NF >= 6 && ($3 == "DF" || $3 == "DO") {
        print $NF, $3, $(NF-2) }' | sort -u >"$tmp/defs"
    awk 'NR == FNR { type[$1] = $2; size[$1] = $3; next }
         ($2 in type) { print $1, $2, type[$2], size[$2] }' "$tmp/defs" "$tmp/imports" \
        >"$tmp/symbols"
    {
        echo '#include <stdio.h>'
        echo '#include <stdlib.h>'
        echo "static void lv_shim_called(const char *what)"
        echo "{"
        echo "    fprintf(stderr, \"longvivit (GPU bundle): %s of $soname was called, but this\""
        printf '%s\n' "            \" library is a shim: the bundle carries no FFmpeg, cairo or oneDNN\\n\", what);"
        echo "    abort();"
        echo "}"
        awk -v noop="$SHIM_NOOP_RE" -v dnnl="$SHIM_DNNL_RE" '
             $3 == "DF" && $2 ~ noop { printf "void %s(void) { }\n", $2; next }
             $3 == "DF" && $2 ~ dnnl { printf "long %s(void) { return %d; }\n", $2,
                                           $2 ~ /^dnnl_(version|get_effective_cpu_isa)$/ ? 0 : 3; next }
             $3 == "DF" { printf "void %s(void) { lv_shim_called(\"%s\"); }\n", $2, $2 }
             $3 == "DO" { printf "unsigned char %s[0x%s];\n", $2, $4 }' "$tmp/symbols"
    } >"$tmp/shim.c"
    local vs=()
    if awk '$1 != "Base"' "$tmp/symbols" | grep -q .; then
        # one version node per version the program asks for; unversioned names join the first
        awk '{ v = $1; if (v == "Base") v = ""; names[NR] = $2; ver[NR] = v; if (v != "" && !(v in seen)) { seen[v] = 1; order[++n] = v } }
             END { for (i = 1; i <= n; i++) {
                       printf "%s {\n  global:\n", order[i]
                       for (k = 1; k <= NR; k++)
                           if (ver[k] == order[i] || (i == 1 && ver[k] == "")) printf "    %s;\n", names[k]
                       if (i == n) printf "  local: *;\n"
                       printf "};\n" } }' "$tmp/symbols" >"$tmp/versions"
        vs=("-Wl,--version-script=$tmp/versions")
    fi
    "${CC:-cc}" -shared -fPIC -O1 -w -o "$out/$soname" -Wl,-soname,"$soname" "${vs[@]}" \
        "$tmp/shim.c" || { rm -rf "$tmp"; return 1; }
    echo "  shim $soname: $(wc -l <"$tmp/symbols") symbols"
    rm -rf "$tmp"
}

write_env_sh() {   # BUNDLE CUBLAS_SONAME
    cat >"$1/env.sh" <<EOF
# Sourced by the bundle's longvivit wrapper and by tools/gpu-check.sh: finds libcublas on this
# machine (LV_CUBLAS_DIR) and how the program runs here (LV_BUNDLE_MODE: A the machine's own
# C and C++ libraries, B our libstdc++ and libgcc_s on the machine's C library, C our C library
# and its loader too); either can be set beforehand to force it.
LV_BUNDLE_DIR=\${LV_BUNDLE_DIR:-\$(cd "\$(dirname "\${BASH_SOURCE:-\$0}")" && pwd)}
LV_CUBLAS_SONAME="$2"
lv_find_cublas() {
    [ -n "\$LV_CUBLAS_SONAME" ] || return 0
    for d in \${LD_LIBRARY_PATH:+\${LD_LIBRARY_PATH//:/ }} /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \\
             /usr/local/cuda-*/lib64 /usr/lib/x86_64-linux-gnu; do
        if [ -e "\$d/\$LV_CUBLAS_SONAME" ]; then echo "\$d"; return 0; fi
    done
    d=\$(ldconfig -p 2>/dev/null | awk -v s="\$LV_CUBLAS_SONAME" '\$1 == s { print \$NF; exit }')
    if [ -n "\$d" ]; then dirname "\$d"; return 0; fi
    \${PYTHON:-python3} - "\$LV_CUBLAS_SONAME" 2>/dev/null <<'PY'
import glob, os, sys
try:
    import nvidia
    for p in nvidia.__path__:
        for f in sorted(glob.glob(os.path.join(p, "**", sys.argv[1]), recursive=True)):
            print(os.path.dirname(f)); sys.exit(0)
except Exception:
    pass
PY
}
lv_bundle_run() {   # MODE program args...: runs it in that mode (exec)
    local mode=\$1; shift
    local path="\$LV_BUNDLE_DIR/lib\${LV_CUBLAS_DIR:+:\$LV_CUBLAS_DIR}"
    case \$mode in
        A) LD_LIBRARY_PATH="\$path\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$@" ;;
        B) LD_LIBRARY_PATH="\$path:\$LV_BUNDLE_DIR/cxx\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$@" ;;
        C) exec "\$LV_BUNDLE_DIR/sys/$LOADER" --library-path \\
                "\$path:\$LV_BUNDLE_DIR/cxx:\$LV_BUNDLE_DIR/sys\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" "\$@" ;;
        *) echo "longvivit bundle: LV_BUNDLE_MODE \$mode: give A, B or C" >&2; exit 2 ;;
    esac
}
[ -n "\${LV_CUBLAS_DIR:-}" ] || LV_CUBLAS_DIR=\$(lv_find_cublas)
if [ -n "\$LV_CUBLAS_SONAME" ] && [ -z "\$LV_CUBLAS_DIR" ]; then
    echo "longvivit bundle: \$LV_CUBLAS_SONAME not found on this machine (set LV_CUBLAS_DIR)" >&2
fi
if [ -z "\${LV_BUNDLE_MODE:-}" ]; then
    for m in A B C; do
        if ( lv_bundle_run "\$m" "\$LV_BUNDLE_DIR/bin/longvivit" version ) >/dev/null 2>&1; then
            LV_BUNDLE_MODE=\$m
            break
        fi
    done
fi
export LV_BUNDLE_DIR LV_CUBLAS_DIR LV_BUNDLE_MODE
EOF
}

prepare() {
    local program=$PROGRAM
    if [ -z "$program" ]; then
        echo "gpu-check --prepare: make NO_BLAS=1 BUILD=$BUILD_DIR cuda"
        make --no-print-directory NO_BLAS=1 BUILD="$BUILD_DIR" cuda >"$BUNDLE.log" 2>&1
        local rc=$?
        program=$BUILD_DIR/cuda/longvivit
        if [ $rc -ne 0 ] || [ ! -x "$program" ]; then
            echo "gpu-check --prepare: the cuda program did not build (make exit $rc); the last" \
                 "errors, from $BUNDLE.log:" >&2
            grep -E 'error|undefined|nvcc not found|skipping' "$BUNDLE.log" | tail -n 8 >&2
            return 1
        fi
    fi
    [ -x "$program" ] || { echo "gpu-check --prepare: $program: no such program" >&2; return 1; }
    local tmp=$BUNDLE.tmp
    rm -rf "$tmp" && mkdir -p "$tmp/bin" "$tmp/lib" "$tmp/cxx" "$tmp/sys" || return 1
    cp -L "$program" "$tmp/bin/longvivit" || return 1
    echo "gpu-check --prepare: bundling $program into $BUNDLE/"
    local soname real
    for soname in $(readelf -d "$program" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [[ $soname =~ $SHIM_RE ]] || continue
        real=$(ldd "$program" | awk -v s="$soname" '$1 == s { print $3 }')
        [ -f "$real" ] || { echo "gpu-check --prepare: ldd finds no $soname" >&2; return 1; }
        make_shim "$program" "$soname" "$real" "$tmp/lib" || return 1
    done
    # the closure with the shims in place: copy what is not the GPU machine's (CUDA, driver)
    local line name path missing=0
    LOADER=""
    while read -r line; do
        name=$(awk '{ print $1 }' <<<"$line")
        path=$(awk '$2 == "=>" { print $3; next } { print $1 }' <<<"$line")
        case $name in linux-vdso*|linux-gate*) continue ;; esac
        if [[ $line == *"not found"* ]]; then
            [[ $name =~ $GPU_RE ]] && continue
            echo "gpu-check --prepare: ldd: $name not found" >&2; missing=1; continue
        fi
        name=$(basename "$name")
        [[ $name =~ $GPU_RE ]] && continue
        [ -e "$tmp/lib/$name" ] && continue          # a shim
        if [[ $name =~ $SYS_RE ]]; then
            cp -L "$path" "$tmp/sys/$name" || return 1
            [[ $name == ld-linux* ]] && LOADER=$name
        elif [[ $name =~ $CXX_RE ]]; then
            cp -L "$path" "$tmp/cxx/$name" || return 1
        else
            cp -L "$path" "$tmp/lib/$name" || return 1
        fi
    done < <(LD_LIBRARY_PATH="$tmp/lib" ldd "$tmp/bin/longvivit")
    [ "$missing" = 0 ] || return 1
    [ -n "$LOADER" ] || { echo "gpu-check --prepare: ldd shows no loader" >&2; return 1; }
    local cublas
    cublas=$(readelf -d "$program" | sed -n 's/.*(NEEDED).*\[\(libcublas\.so[.0-9]*\)\].*/\1/p')
    write_env_sh "$tmp" "$cublas"
    cat >"$tmp/longvivit" <<'EOF'
#!/usr/bin/env bash
# The bundled longvivit, run with the libraries of this bundle where the machine lacks them
# (env.sh; written by tools/gpu-check.sh --prepare).
LV_BUNDLE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$LV_BUNDLE_DIR/env.sh"
if [ -z "${LV_BUNDLE_MODE:-}" ]; then
    echo "longvivit bundle: the program runs in no mode here (A, B, C); try:" >&2
    echo "  LV_BUNDLE_MODE=C $0 version" >&2
    exit 127
fi
lv_bundle_run "$LV_BUNDLE_MODE" "$LV_BUNDLE_DIR/bin/longvivit" "$@"
EOF
    chmod +x "$tmp/longvivit"
    {
        echo "bundle of $program, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        echo "git: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- cuda ref blas_glue 2>/dev/null || echo ' (+ uncommitted changes)')"
        echo "built on: $(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null), $(ldd --version | head -n 1)"
        "$tmp/bin/longvivit" version 2>&1 | sed 's/^/version: /'
        echo "backends: $("$tmp/bin/longvivit" golden --help 2>&1 | sed -n 's/^Backends in this build: \(.*\)\./\1/p')"
        echo "cuBLAS: ${cublas:-(not linked)} from the machine (LV_CUBLAS_DIR)"
        echo "files:"
        (cd "$tmp" && find . -type f -printf '  %p %s\n' | sort)
    } >"$tmp/INFO"
    rm -rf "$BUNDLE" && mv "$tmp" "$BUNDLE" || return 1
    rm -f "$BUNDLE.log"
    echo "gpu-check --prepare: $BUNDLE/ holds $(du -sh "$BUNDLE" | cut -f1); mode here:" \
         "$(bash -c ". '$BUNDLE/env.sh'; echo \${LV_BUNDLE_MODE:-none}")"
    echo "carry it to the GPU machine (device tool: carry [\"$BUNDLE\"]) and run there:"
    echo "  bash tools/gpu-check.sh OUTDIR${BUNDLE:+ --bundle $BUNDLE}"
}

if [ "$PREPARE" = 1 ]; then
    if [ -n "$OUTDIR" ] || [ "$DRY" = 1 ]; then usage; fi
    prepare
    exit $?
fi
[ -n "$OUTDIR" ] || usage

# ==== summary.json and table.txt from the files of OUTDIR ======================================
summarize() {   # OUTDIR
    "$PYTHON" - "$1" "$(IFS=';'; echo "${ROWS[*]}")" <<'PY'
import json, os, sys, time
out, rows = sys.argv[1], sys.argv[2].split(";")

def read(path, default=""):
    try:
        return open(os.path.join(out, path)).read().strip()
    except OSError:
        return default

def load(path):
    try:
        text = read(path).splitlines()
        return json.loads(text[-1]) if text else None
    except ValueError:
        return None

def num(path):
    try:
        return float(read(path))
    except ValueError:
        return None

card = (read("card.txt").splitlines() or ["(no card: not run on a GPU)"])[0]
program, mode, cublas = (read("program.txt").split("\t") + ["", "", ""])[:3]
steps = {}
for line in read("steps.tsv").splitlines():
    name, status, detail = (line.split("\t") + ["", ""])[:3]
    steps[name] = {"status": status, "detail": detail}
summary = {"card": card, "program": program, "bundle_mode": mode or None,
           "cublas_dir": cublas or None, "checks": {}, "bench": []}
for k in ("golden", "determinism", "sanitizer-memcheck", "sanitizer-racecheck"):
    summary["checks"][k] = steps.get(k, {"status": "NOT RUN", "detail": ""})
golden = load("golden-port-1.json")
if golden:
    summary["checks"]["golden"].update({x: golden.get(x) for x in
        ("cases", "tensors", "failed", "bad_input", "worst_margin")})
    summary["checks"]["golden"]["worst"] = golden.get("worst", [])[:5]
torch_version = None
for r in rows:
    rid, preset, frames, mask, batch, warm, n = r.split()
    ours, torch = load(f"bench/{rid}-ours.json"), load(f"bench/{rid}-torch.json")
    gflop = ours.get("gflop_per_step") if ours else None
    row = {"id": rid, "preset": preset, "frames": int(frames), "mask": float(mask),
           "batch": int(batch), "kept": ours.get("kept_tokens") if ours else None,
           "gflop_per_step": gflop,
           "ours": {"ms": ours.get("ms_per_step") if ours else None,
                    "tflops": ours["gflops"] / 1000 if ours and ours.get("gflops") else None,
                    "device_mib": num(f"bench/{rid}-ours.peak"),
                    "status": steps.get(f"bench-{rid}-ours", {}).get("status", "NOT RUN")},
           "torch": {"ms": torch.get("ms_per_step") if torch else None,
                     "tflops": None, "device_mib": num(f"bench/{rid}-torch.peak"),
                     "allocated_mib": (torch or {}).get("max_memory_allocated_mib"),
                     "oom": (torch or {}).get("oom"), "error": (torch or {}).get("error"),
                     "status": steps.get(f"bench-{rid}-torch", {}).get("status", "NOT RUN")}}
    if torch:
        torch_version = torch.get("torch_version", torch_version)
    if gflop and row["torch"]["ms"]:
        row["torch"]["tflops"] = gflop / row["torch"]["ms"]      # GFLOP / ms = TFLOP/s
    if row["ours"]["ms"] and row["torch"]["ms"]:
        row["torch_over_ours"] = row["torch"]["ms"] / row["ours"]["ms"]
    summary["bench"].append(row)
summary["torch_version"] = torch_version
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)

def f(x, fmt):
    return "-" if x is None else format(x, fmt)

lines = [f"longvivit gpu-check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {card}",
         f"program: {program}" + (f" (bundle mode {mode}, cuBLAS from {cublas or '(not found)'})" if mode else "")
         + (f"; torch {torch_version}" if torch_version else ""), "", "checks"]
for k, v in summary["checks"].items():
    lines.append(f"  {k:<20} {v['status']:<8} {v['detail']}")
if summary["bench"]:
    lines += ["",
              "training step (forward, backward, AdamW), fp32 in both (TF32 off): median ms/step;",
              "TFLOP/s = the model's FLOPs (longvivit's lv_model_step_flops) / time, for both;",
              "dev MiB = peak nvidia-smi memory.used during the run minus before it (context incl.);",
              "alloc MiB = torch.cuda.max_memory_allocated; ratio = torch ms / ours (above 1: ours faster)",
              f"{'row':<9} {'preset':<6} {'frames':>6} {'mask':>4} {'kept':>5} {'batch':>5} | "
              f"{'ours ms':>9} {'TFLOP/s':>7} {'dev MiB':>8} | {'torch ms':>9} {'TFLOP/s':>7} "
              f"{'dev MiB':>8} {'alloc MiB':>9} | {'ratio':>5}",
              "-" * 112]
    for r in summary["bench"]:
        o, t = r["ours"], r["torch"]
        oms = f(o["ms"], ".1f") if o["ms"] else o["status"]
        tms = f(t["ms"], ".1f") if t["ms"] else ("OOM" if t["oom"] else t["status"])
        lines.append(f"{r['id']:<9} {r['preset']:<6} {r['frames']:>6} {r['mask']:>4} "
                     f"{f(r['kept'], 'd'):>5} {r['batch']:>5} | {oms:>9} {f(o['tflops'], '.2f'):>7} "
                     f"{f(o['device_mib'], '.0f'):>8} | {tms:>9} {f(t['tflops'], '.2f'):>7} "
                     f"{f(t['device_mib'], '.0f'):>8} {f(t['allocated_mib'], '.0f'):>9} | "
                     f"{f(r.get('torch_over_ours'), '.2f'):>5}")
open(os.path.join(out, "table.txt"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
}

# ==== the run ===================================================================================

START=$SECONDS
PENDING=() MISSING=()
mkdir -p "$OUTDIR" || exit 1
OUTDIR=$(cd "$OUTDIR" && pwd)
if [ "$SUMMARY_ONLY" = 1 ]; then
    summarize "$OUTDIR"
    exit $?
fi
LOG=$OUTDIR/log.txt
: >"$LOG"
STEPS=$OUTDIR/steps.tsv
: >"$STEPS"
say() { echo "$*" | tee -a "$LOG"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$STEPS"; say "  -> $1: $2${3:+ ($3)}"; }
missing() { MISSING+=("$1"); say "  MISSING: $1"; }
pending() { PENDING+=("$1"); say "  PENDING: $1"; }
quote() { local a s=""; for a in "$@"; do s+="${s:+ }$(printf '%q' "$a")"; done; echo "$s"; }
elapsed() { echo $(( SECONDS - START )); }
status_of() { case $1 in 0) echo PASS ;; 124|137) echo TIMEOUT ;; *) echo FAIL ;; esac; }

# run NAME TIMEOUT OUTFILE ERRFILE cmd...: runs cmd (prints it in a dry run), returns its status;
# the limit shrinks so that the whole run ends by BUDGET + 60 s (124: out of time)
run() {
    local name=$1 limit=$2 out=$3 err=$4
    shift 4
    say "[$name] $(quote "$@")${out:+ >${out#"$OUTDIR"/}}${err:+ 2>${err#"$OUTDIR"/}}"
    [ "$DRY" = 1 ] && return 0
    local t0=$SECONDS rc left=$(( BUDGET + 60 - $(elapsed) ))
    [ "$limit" -le "$left" ] || limit=$left
    if [ "$limit" -lt 10 ]; then say "   not run: past the budget (GPU_CHECK_BUDGET_S=$BUDGET)"; return 124; fi
    timeout -k 10 "$limit" "$@" >"${out:-/dev/null}" 2>"${err:-/dev/null}"
    rc=$?
    say "   exit $rc after $(( SECONDS - t0 )) s"
    return $rc
}

say "gpu-check: $(date -u '+%Y-%m-%d %H:%M:%S UTC') in $ROOT, results in $OUTDIR$([ "$DRY" = 1 ] && echo ' (dry run)')"

# ---- the program ------------------------------------------------------------------------------
LV=()
if [ -n "$PROGRAM" ]; then
    if [ -x "$PROGRAM" ]; then
        LV=("$PROGRAM")
        say "program: $PROGRAM (built on this machine)"
        printf '%s\t\t\n' "$PROGRAM" >"$OUTDIR/program.txt"
    else
        missing "$PROGRAM is not built (make cuda, which needs nvcc)"
    fi
elif [ -x "$BUNDLE/longvivit" ] && [ -f "$BUNDLE/env.sh" ] && [ -x "$BUNDLE/bin/longvivit" ]; then
    # shellcheck disable=SC1091
    . "$BUNDLE/env.sh"
    LV=("$BUNDLE/longvivit")
    printf '%s\t%s\t%s\n' "$BUNDLE" "${LV_BUNDLE_MODE:-}" "${LV_CUBLAS_DIR:-}" >"$OUTDIR/program.txt"
    say "program: the bundle $BUNDLE/ (run mode ${LV_BUNDLE_MODE:-none}, cuBLAS from ${LV_CUBLAS_DIR:-nowhere})"
    sed -n '1,6p' "$BUNDLE/INFO" 2>/dev/null | sed 's/^/  /' | tee -a "$LOG"
    [ -n "${LV_BUNDLE_MODE:-}" ] || missing "the bundle's program runs in no mode here (A, B, C): see $BUNDLE/longvivit version"
    if [ "$DRY" = 1 ] && [ -n "${LV_BUNDLE_MODE:-}" ]; then
        # the mode a machine with other libraries falls back to: our C library and its loader
        if LV_BUNDLE_MODE=C "$BUNDLE/longvivit" version >/dev/null 2>&1; then
            say "  mode C (our C library and loader) runs here too"
        else
            missing "the bundle's mode C (our loader) does not run here: LV_BUNDLE_MODE=C $BUNDLE/longvivit version"
        fi
        size_tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)
        size_bundle=$(du -sb "$BUNDLE" | cut -f1)
        say "  device tool: working tree $(( size_tree >> 20 )) MiB + bundle $(( size_bundle >> 20 )) MiB (limit 64 MiB)"
        [ $(( size_tree + size_bundle )) -lt $(( 64 << 20 )) ] || missing "tree + bundle exceed the device tool's 64 MiB"
    fi
else
    why="no bundle at $BUNDLE/ (make gpu-bundle, or tools/gpu-check.sh --prepare)"
    if [ -f "$BUNDLE.log" ]; then
        why="$why; the last attempt failed: $(grep -E 'error|undefined|nvcc not found|skipping' "$BUNDLE.log" | tail -n 3 | tr '\n' ' ' | cut -c1-400)"
    fi
    if [ "$DRY" = 1 ]; then pending "$why"; else missing "$why"; fi
fi
if [ ${#LV[@]} -gt 0 ] && [ ${#MISSING[@]} -eq 0 ]; then
    backends=$("${LV[@]}" golden --help 2>&1 | sed -n 's/^Backends in this build: \(.*\)\./\1/p')
    say "  backends in the program: ${backends:-(none printed)}"
    if ! grep -qw cuda <<<"${backends//cuda-host/}"; then
        if [ "$DRY" = 1 ]; then pending "the program has no cuda backend (not the cuda program: make gpu-bundle)"
        else missing "the program has no cuda backend"; fi
    fi
fi
# what the dry run can try here: the bundle's program, else the host program (cpu backend)
HOST_LV=("${LV[@]}")
if [ ${#HOST_LV[@]} -eq 0 ] && [ -x build/longvivit ]; then HOST_LV=(build/longvivit); fi

# ---- 1. the card --------------------------------------------------------------------------------
say "== 1. the card"
if [ "$DRY" = 0 ]; then
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        missing "no GPU here: nvidia-smi not found (this check runs on a machine with an NVIDIA GPU)"
    elif ! nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
           >"$OUTDIR/card.txt" 2>&1; then
        missing "no GPU here: nvidia-smi failed: $(head -c 200 "$OUTDIR/card.txt")"
    else
        say "card: $(head -n 1 "$OUTDIR/card.txt")"
        nvidia-smi >"$OUTDIR/nvidia-smi.txt" 2>&1
    fi
else
    say "[card] nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >card.txt"
fi
if [ ${#MISSING[@]} -gt 0 ] && [ "$DRY" = 0 ]; then
    say "gpu-check: cannot run: ${MISSING[*]}"
    exit 1
fi
CUDA_LV=("${LV[@]}")
[ ${#CUDA_LV[@]} -gt 0 ] || CUDA_LV=("$BUNDLE/longvivit")      # dry run: what it would run

# ---- 2, 3. golden, twice ------------------------------------------------------------------------
say "== 2. golden --check golden --backend cuda --port (every case), 3. determinism (twice)"
[ -f golden/MANIFEST ] || missing "golden/MANIFEST"
n_cases=0 n_absent=0 rc_text=(0 0 0)
while read -r c; do
    n_cases=$((n_cases + 1))
    [ -f "golden/$c.safetensors" ] || { n_absent=$((n_absent + 1)); missing "golden/$c.safetensors"; }
done < <(awk '!/^#/ && NF >= 6 { print $1 }' golden/MANIFEST 2>/dev/null | sort -u)
say "  golden/: $n_cases cases in the MANIFEST, $n_absent without their file"
DUMP=${TMPDIR:-/tmp}/gpu-check-dump.$$      # the outputs themselves, not brought back
[ "$DRY" = 1 ] || rm -rf "$DUMP"
for r in 1 2; do
    run "golden-$r" 120 "$OUTDIR/golden-port-$r.txt" "$OUTDIR/golden-port-$r.err" \
        "${CUDA_LV[@]}" golden --check golden --backend cuda --port --worst 1000000 \
        --dump "$DUMP/$r"
    rc_text[r]=$?
    run "golden-$r-json" 120 "$OUTDIR/golden-port-$r.json" "$OUTDIR/golden-port-$r-json.err" \
        "${CUDA_LV[@]}" golden --check golden --backend cuda --port --worst 1000000 --json
done
if [ "$DRY" = 0 ]; then
    verdict=$(tail -n 1 "$OUTDIR/golden-port-1.txt" 2>/dev/null)
    if [ "${rc_text[1]}" = 0 ]; then record golden PASS "$verdict"
    else record golden FAIL "exit ${rc_text[1]}: ${verdict:-$(tail -n 2 "$OUTDIR/golden-port-1.err")}"; fi
    if [ "${rc_text[1]}" -gt 1 ] || [ "${rc_text[2]}" -gt 1 ]; then
        record determinism FAIL "a run did not complete (exit ${rc_text[1]}, ${rc_text[2]})"
    elif diff -rq "$DUMP/1" "$DUMP/2" >"$OUTDIR/determinism.diff" 2>&1; then
        record determinism PASS "two full runs, every output of every case identical byte for byte ($(find "$DUMP/1" -name '*.safetensors' | wc -l) files, golden --check --dump)"
    else
        record determinism FAIL "the two runs differ in $(grep -c differ "$OUTDIR/determinism.diff") of $(find "$DUMP/1" -name '*.safetensors' | wc -l) case files (determinism.diff)"
    fi
    rm -rf "$DUMP"
fi

# ---- 4. compute-sanitizer over one kernel and one model case --------------------------------
say "== 4. compute-sanitizer memcheck and racecheck: $SAN_CASES"
SAN_DIR=$OUTDIR/san-golden
rm -rf "$SAN_DIR" && mkdir -p "$SAN_DIR/kernels" "$SAN_DIR/models"
grep '^#' golden/MANIFEST >"$SAN_DIR/MANIFEST" 2>/dev/null
for c in $SAN_CASES; do
    if ! awk -v c="$c" '$1 == c { found = 1 } END { exit !found }' golden/MANIFEST 2>/dev/null; then
        missing "sanitizer case $c: not in golden/MANIFEST"; continue
    fi
    awk -v c="$c" '$1 == c' golden/MANIFEST >>"$SAN_DIR/MANIFEST"
    cp "golden/$c.safetensors" "$SAN_DIR/$c.safetensors" || missing "golden/$c.safetensors"
done
if [ "$DRY" = 1 ]; then
    # the checker must take the trimmed folder: try it on the cpu backend here
    if [ ${#HOST_LV[@]} -gt 0 ] &&
       "${HOST_LV[@]}" golden --check "$SAN_DIR" --backend cpu --port >"$OUTDIR/san-cpu.txt" 2>&1; then
        say "  the sanitizer folder ($(grep -vc '^#' "$SAN_DIR/MANIFEST") MANIFEST rows) passes golden --check --backend cpu here: $(tail -n 1 "$OUTDIR/san-cpu.txt" | cut -c1-90)"
    elif [ ${#HOST_LV[@]} -gt 0 ]; then
        missing "golden --check of the sanitizer folder fails on cpu here (san-cpu.txt): $(tail -n 1 "$OUTDIR/san-cpu.txt")"
    else
        pending "no program here to try the sanitizer folder with (make, or make gpu-bundle)"
    fi
fi
SANITIZER=$(command -v compute-sanitizer 2>/dev/null)
for s in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer \
         /usr/local/cuda-*/bin/compute-sanitizer; do
    if [ -z "$SANITIZER" ] && [ -x "$s" ]; then SANITIZER=$s; fi
done
[ -n "$SANITIZER" ] || SANITIZER=compute-sanitizer
for tool in memcheck racecheck; do
    run "sanitizer-$tool" 150 "$OUTDIR/sanitizer-$tool.txt" "" \
        "$SANITIZER" --tool "$tool" --target-processes all --error-exitcode 99 --print-limit 50 \
        "${CUDA_LV[@]}" golden --check "$SAN_DIR" --backend cuda --port
    rc=$?
    [ "$DRY" = 1 ] && continue
    summary_line=$(grep -E '(ERROR|RACECHECK) SUMMARY' "$OUTDIR/sanitizer-$tool.txt" | tail -n 1 | sed 's/^========= //')
    case $rc in
        0) record "sanitizer-$tool" PASS "${summary_line:-clean}" ;;
        1) record "sanitizer-$tool" PASS "${summary_line:-clean}; but golden failed under the sanitizer" ;;
        99) record "sanitizer-$tool" FAIL "${summary_line:-errors} (sanitizer-$tool.txt)" ;;
        124|137) record "sanitizer-$tool" FAIL "timed out" ;;
        *) record "sanitizer-$tool" FAIL "exit $rc: $(tail -n 1 "$OUTDIR/sanitizer-$tool.txt")" ;;
    esac
done

# ---- 5. bench: ours beside PyTorch on the same card ---------------------------------------------
if [ "$BENCH" = 1 ]; then
    say "== 5. bench: longvivit bench --backend cuda beside tools/bench_torch.py --device cuda"
    mkdir -p "$OUTDIR/bench"
    TORCH_DEVICE=1
    if [ ! -f tools/bench_torch.py ]; then
        missing tools/bench_torch.py
    elif ! grep -q -- '--device' tools/bench_torch.py; then
        TORCH_DEVICE=0
        if [ "$DRY" = 1 ]; then pending "tools/bench_torch.py has no --device option (the torch column needs --device cuda)"
        else say "  tools/bench_torch.py has no --device: the torch column stays empty"; fi
    fi
    if [ "$DRY" = 1 ]; then
        if command -v "$PYTHON" >/dev/null 2>&1; then say "  $PYTHON: $("$PYTHON" --version 2>&1)"
        else missing "$PYTHON (the summary and bench_torch.py)"; fi
    fi
    # peak memory.used of the card while a command runs, minus what was used before it
    mem_sampler_start() {
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 100 \
            >"$1" 2>/dev/null &
        SAMPLER=$!
    }
    mem_sampler_stop() {   # FILE BASELINE -> prints peak - baseline (MiB)
        kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null
        awk -v b="$2" '$1 + 0 > m { m = $1 + 0 } END { if (m > 0) print m - b }' "$1"
    }
    for row in "${ROWS[@]}"; do
        read -r id preset frames mask batch warm steps <<<"$row"
        if [ -n "${GPU_CHECK_ROWS:-}" ] && ! grep -qw -- "$id" <<<"$GPU_CHECK_ROWS"; then continue; fi
        left=$(( BUDGET - $(elapsed) ))
        if [ "$DRY" = 0 ] && [ "$left" -lt 40 ]; then
            record "bench-$id" SKIP "past the budget of $BUDGET s (GPU_CHECK_BUDGET_S)"
            continue
        fi
        limit=$(( left > 240 ? 180 : left / 2 + 10 ))
        base=0
        [ "$DRY" = 0 ] && base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -n 1)
        [ "$DRY" = 0 ] && mem_sampler_start "$OUTDIR/bench/$id-ours.mem"
        OMP_NUM_THREADS=$(nproc) run "bench-$id-ours" "$limit" "$OUTDIR/bench/$id-ours.json" \
            "$OUTDIR/bench/$id-ours.err" "${CUDA_LV[@]}" bench --backend cuda --preset "$preset" \
            --frames "$frames" --mask "$mask" --batch "$batch" --warmup "$warm" --steps "$steps" --json
        rc=$?
        [ "$DRY" = 0 ] && mem_sampler_stop "$OUTDIR/bench/$id-ours.mem" "$base" >"$OUTDIR/bench/$id-ours.peak"
        [ "$DRY" = 0 ] && record "bench-$id-ours" "$(status_of $rc)" "exit $rc"
        [ "$TORCH_DEVICE" = 1 ] || [ "$DRY" = 1 ] || continue
        left=$(( BUDGET - $(elapsed) ))
        if [ "$DRY" = 0 ] && [ "$left" -lt 30 ]; then
            record "bench-$id-torch" SKIP "past the budget"; continue
        fi
        limit=$(( left > 240 ? 180 : left / 2 + 10 ))
        [ "$DRY" = 0 ] && base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -n 1)
        [ "$DRY" = 0 ] && mem_sampler_start "$OUTDIR/bench/$id-torch.mem"
        run "bench-$id-torch" "$limit" "$OUTDIR/bench/$id-torch.json" "$OUTDIR/bench/$id-torch.err" \
            "$PYTHON" tools/bench_torch.py --device cuda --longvivit "${CUDA_LV[0]}" --preset "$preset" \
            --frames "$frames" --mask "$mask" --batch "$batch" --warmup "$warm" --steps "$steps" \
            --mem-limit-gib 0 --json
        rc=$?
        [ "$DRY" = 0 ] && mem_sampler_stop "$OUTDIR/bench/$id-torch.mem" "$base" >"$OUTDIR/bench/$id-torch.peak"
        [ "$DRY" = 0 ] && record "bench-$id-torch" "$(status_of $rc)" "exit $rc"
    done
fi

say "== summary: $OUTDIR/summary.json, $OUTDIR/table.txt"
if [ "$DRY" = 1 ]; then
    # the writer on an empty result folder: every cell pending
    if summarize "$OUTDIR" >"$OUTDIR/table-dry.txt" 2>&1; then
        say "  summary writer: ok (an empty table: table-dry.txt)"
    else
        missing "the summary writer failed: $(tail -n 1 "$OUTDIR/table-dry.txt")"
    fi
    command -v timeout >/dev/null || missing "timeout (coreutils)"
    say "on the GPU machine also needed: nvidia-smi, compute-sanitizer, $PYTHON with torch (CUDA), cuBLAS"
    say "dry run: $(elapsed) s; ${#MISSING[@]} missing, ${#PENDING[@]} pending"
    for m in "${MISSING[@]}"; do say "  MISSING: $m"; done
    for p in "${PENDING[@]}"; do say "  PENDING: $p"; done
    if [ ${#MISSING[@]} -gt 0 ]; then say "dry run: NOT READY"; exit 1; fi
    if [ ${#PENDING[@]} -gt 0 ]; then say "dry run: ready except pending work (exit 3)"; exit 3; fi
    say "dry run: everything in place"
    exit 0
fi
summarize "$OUTDIR" | tee -a "$LOG"
say "gpu-check: $(elapsed) s"
failed=$(awk -F'\t' '$2 == "FAIL"' "$STEPS" | wc -l)
[ "$failed" = 0 ] && [ ${#MISSING[@]} -eq 0 ]
