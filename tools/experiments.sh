#!/usr/bin/env bash
# make experiments: the paper's experiments in miniature, on the synthetic long-range benchmark,
# 3 seeds per point (docs/RESULTS.md says what each shows):
#   1. memory against accuracy at a fixed frame count, for every way of making the video encoder
#      cheaper (input masking random and tube, factorized attention, frame-level encoders,
#      coarse tubelets, TubeViT, and adapters / LoRA / last-k / temporal-only from a pretrained
#      joint model): measured peak memory of a step (memory --measure, from the OS) beside the
#      analytic one, the median ms of a training step (bench), zero-shot R@1 both ways, MCQ
#      accuracy and its blind floor;
#   2. frames: 16 / 32 / 64 / 128 frames of 128-s videos, the short recipe (every token, full
#      tuning) against the long one (from the 16-frame model: 75% masked, last-k, text frozen),
#      and at 128 frames the long recipe's parts apart (last-k without masking; masking with
#      full tuning; the recipe with the text tower trained);
#   3. stage 2: tools/demo-text.sh per seed (Table 3 in miniature);
#   4. on paper: the analytic peak memory of one step per method against frames (16 to 256) for
#      vit-b and vit-l at batch 1, beside the paper's 16 GB.
# Resumable: each finished run leaves its result file and is not redone; an interrupted run is
# redone from its start. A progress line per run. Then tools/experiments_report.py writes
# OUT/RESULTS.md and OUT/plots/*.png; with EXP_PUBLISH=1 (make experiments) they are copied to
# docs/RESULTS.md and docs/images/results/. OUT/NOTES.md, where the person running it writes one
# (which runs were redone at which commit, the machine's load), is copied under the header.
#
#   EXP_OUT=DIR        results (default build/experiments)
#   EXP_SCALE=full     full (about 2 hours on 2 cores) or mini (a minute: tests/cli.sh runs it)
#   EXP_SEEDS=N        seeds per point (full: 3, mini: 2)
#   EXP_PUBLISH=1      copy RESULTS.md and the plots into docs/ (a full run only)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${BIN:-build/longvivit}
out=${EXP_OUT:-build/experiments}
scale=${EXP_SCALE:-full}
case $scale in
full)
    seeds=${EXP_SEEDS:-3}
    videos=384 frames=32 steps=200 batch=16          # sweep 1: 32-s videos, 32 frames
    f_videos=256 f_steps=200 f_list="16 32 64 128"   # sweep 2: 128-s videos
    demo=(DEMO_ENC_STEPS=300 DEMO_LM_STEPS=600 DEMO_TEXT_STEPS=600 DEMO_VIDEOS=256)
    paper_frames="16 32 64 128 256"
    timed="--warmup 2 --steps 10"                    # bench: the median of 10 steps
    ;;
mini)
    seeds=${EXP_SEEDS:-2}
    videos=16 frames=8 steps=2 batch=4
    f_videos=16 f_steps=2 f_list="4 8"
    demo=(DEMO_ENC_STEPS=2 DEMO_LM_STEPS=4 DEMO_TEXT_STEPS=2 DEMO_VIDEOS=16 DEMO_FRAMES=8)
    paper_frames="16 256"
    timed="--warmup 0 --steps 1"
    ;;
*)
    echo "EXP_SCALE=$scale: give full or mini" >&2
    exit 2
    ;;
esac
f_max=${f_list##* }
[ -x "$bin" ] || { echo "no $bin: run make first" >&2; exit 1; }
mkdir -p "$out/runs"
start=$SECONDS

# ---- the plan: one line per run, "kind|sweep|name|seed|args", in the order they must run ----
plan=()
add() { plan+=("$1|$2|$3|$4|$5"); }
seed_list=$(seq 1 "$seeds")

# sweep 1: (name, train arguments) at $frames frames, from scratch
methods1=(
    "joint|"
    "mask-0.25|--mask 0.25"
    "mask-0.5|--mask 0.5"
    "mask-0.75|--mask 0.75"
    "mask-0.9|--mask 0.9"
    "tube-0.5|--mask 0.5 --set mask=tube"
    "tube-0.75|--mask 0.75 --set mask=tube"
    "tube-0.9|--mask 0.9 --set mask=tube"
    "factorized|--attn factorized"
    "frame-mean|--attn frame --set frame_pool=mean"
    "frame-attn|--attn frame --set frame_pool=attn"
    "coarse-t|--set tubelet_t=4"
    "coarse-s|--set patch=16"
    "coarse-ts|--set tubelet_t=4 --set patch=16"
    "tubevit|--set tubes=tubevit"
)
# parameter-efficient tuning continues a pretrained model of the same seed (joint, or
# factorized for temporal-only) for $steps more steps; full tuning is their reference
methods1_from=(
    "full-from-joint|joint|--set tune=full"
    "adapters|joint|--set tune=adapters"
    "lora|joint|--set tune=lora"
    "last-k|joint|--set tune=last-k"
    "temporal-only|factorized|--set tune=temporal"
)
for s in $seed_list; do
    for m in "${methods1[@]}"; do add train1 memory "${m%%|*}" "$s" "${m#*|}"; done
    for m in "${methods1_from[@]}"; do
        IFS='|' read -r name base args <<<"$m"
        add from1 memory "$name" "$s" "$base|$args"
    done
done
# sweep 2: the 16-frame short model first (the long recipe starts from it)
for s in $seed_list; do
    for f in $f_list; do add train2 frames "short-$f" "$s" "--frames $f"; done
    for f in $f_list; do
        add from2 frames "long-$f" "$s" "short-${f_list%% *}|--frames $f --mask 0.75 --set tune=last-k --set freeze_text=1"
    done
    # the long recipe's two halves apart, at the most frames: which one costs the accuracy
    add from2 frames "long-nomask-$f_max" "$s" "short-${f_list%% *}|--frames $f_max --set tune=last-k --set freeze_text=1"
    add from2 frames "long-fulltune-$f_max" "$s" "short-${f_list%% *}|--frames $f_max --mask 0.75 --set freeze_text=1"
    # and with the text tower trained along (the 16-frame stage never needed it to encode late events)
    add from2 frames "long-texttrain-$f_max" "$s" "short-${f_list%% *}|--frames $f_max --mask 0.75 --set tune=last-k --set freeze_text=0"
done
for s in $seed_list; do add stage2 stage2 "table3" "$s" ""; done
total=${#plan[@]}

# ---- one run ---------------------------------------------------------------------------------
common=(--preset tiny --set text_len=40 --batch "$batch" --lr 1e-3)
progress() { printf "[%d/%d] %-7s %-18s seed %s  %s (%ds elapsed)\n" "$1" "$total" "$2" "$3" "$4" \
                    "$5" $((SECONDS - start)); }

# memory_of DIR ARGS...: the analytic and measured peak of one step of this configuration
memory_of() {
    local dir=$1
    shift
    [ -s "$dir/memory.json" ] && return 0
    "$bin" memory --preset tiny --set text_len=40 --batch "$batch" --measure --json "$@" \
        >"$dir/memory.tmp" 2>"$dir/memory.log" || { cat "$dir/memory.log" >&2; return 1; }
    mv "$dir/memory.tmp" "$dir/memory.json"
}

# timing_of DIR ARGS...: the median ms of a training step of this configuration (bench: random
# inputs, 10 steps after 2 warm-up ones), apart from the training runs so that it can be redone
# alone on a quiet machine (remove the timing.json files and rerun)
timing_of() {
    local dir=$1
    shift
    [ -s "$dir/timing.json" ] && return 0
    # shellcheck disable=SC2086
    "$bin" bench --preset tiny --set text_len=40 --batch "$batch" $timed --no-sgemm --json "$@" \
        >"$dir/timing.tmp" 2>"$dir/timing.log" || { cat "$dir/timing.log" >&2; return 1; }
    mv "$dir/timing.tmp" "$dir/timing.json"
}

# the arguments `memory` takes of a train command line (--frames --mask --attn --set; --from's
# --set tune= too)
memory_args() {
    local args=() a
    while [ $# -gt 0 ]; do
        a=$1
        case $a in --frames|--mask|--attn|--set) args+=("$a" "$2"); shift ;; esac
        shift
    done
    echo "${args[@]}"
}

# train_run DIR DATA ARGS...: trains with the evaluation at its end; DIR/result.json when done
train_run() {
    local dir=$1 data=$2
    shift 2
    rm -rf "$dir/run"
    "$bin" train --data "$data" "$@" --out "$dir/run" --json >"$dir/train.json" 2>"$dir/train.log" \
        || { tail -n 20 "$dir/train.log" >&2; return 1; }
    # ms per step from the log: elapsed at the last step over the steps (loading included)
    local last
    last=$(tail -n 1 "$dir/run/log.jsonl")
    { printf '{"train": '; cat "$dir/train.json" | tr -d '\n'; printf ', "last_step": %s}\n' "$last"; } \
        >"$dir/result.tmp"
    mv "$dir/result.tmp" "$dir/result.json"
}

data_a=$out/data_a
data_b=$out/data_b
if [ ! -s "$data_a/mcq.jsonl" ]; then
    echo "== data: $videos videos of $frames s (sweep 1), $f_videos of $f_max s (sweep 2)"
    rm -rf "$data_a" "$data_b"
    "$bin" synth --out "$data_a.tmp" --videos "$videos" --frames "$frames" --size 32 >/dev/null
    "$bin" synth --out "$data_b.tmp" --videos "$f_videos" --frames "$f_max" --size 32 >/dev/null
    mv "$data_b.tmp" "$data_b"
    mv "$data_a.tmp" "$data_a"
fi

# measured ARGS...: the configuration's memory and step time (each computed once per method,
# before and apart from its trainings, so that removing timing.json files and rerunning redoes
# the timings alone, on a quiet machine)
measured() {
    # shellcheck disable=SC2068
    memory_of "$out/runs/$sweep/$name" $@ && timing_of "$out/runs/$sweep/$name" $@
}

i=0
for line in "${plan[@]}"; do
    i=$((i + 1))
    IFS='|' read -r kind sweep name seed args <<<"$line"
    dir=$out/runs/$sweep/$name/seed$seed
    mkdir -p "$dir"
    base=${args%%|*}
    rest=${args#*|}
    attn=
    [ "$base" = factorized ] && attn="--attn factorized"
    # shellcheck disable=SC2086
    case $kind in
    train1) measured --frames "$frames" $(memory_args $args) ;;
    from1) measured --frames "$frames" $attn $(memory_args $rest) ;;
    train2) measured $(memory_args $args) ;;
    from2) measured $(memory_args $rest) ;;
    esac
    if [ -s "$dir/result.json" ]; then
        progress "$i" "$sweep" "$name" "$seed" "done before"
        continue
    fi
    t0=$SECONDS
    case $kind in
    train1)
        # shellcheck disable=SC2086
        train_run "$dir" "$data_a/train.jsonl" "${common[@]}" --frames "$frames" --steps "$steps" \
            --seed "$seed" $args
        ;;
    from1)
        # shellcheck disable=SC2086
        train_run "$dir" "$data_a/train.jsonl" --from "$out/runs/memory/$base/seed$seed/run/ckpt.safetensors" \
            --batch "$batch" --lr 1e-3 --frames "$frames" --steps "$steps" --seed "$seed" $rest
        ;;
    train2)
        # shellcheck disable=SC2086
        train_run "$dir" "$data_b/train.jsonl" "${common[@]}" --steps "$f_steps" --seed "$seed" $args
        ;;
    from2)
        # shellcheck disable=SC2086
        train_run "$dir" "$data_b/train.jsonl" --from "$out/runs/frames/$base/seed$seed/run/ckpt.safetensors" \
            --batch "$batch" --lr 1e-3 --steps "$f_steps" --seed "$seed" $rest
        ;;
    stage2)
        rm -rf "$dir/demo"
        env "${demo[@]}" DEMO_SEED="$seed" DEMO_OUT="$dir/demo" bash tools/demo-text.sh \
            >"$dir/demo.log" 2>&1 || { tail -n 20 "$dir/demo.log" >&2; exit 1; }
        cp "$dir/demo/table.json" "$dir/result.tmp"
        mv "$dir/result.tmp" "$dir/result.json"
        ;;
    esac
    progress "$i" "$sweep" "$name" "$seed" "in $((SECONDS - t0)) s"
done

# ---- sweep 4, on paper: analytic memory of one step against frames ---------------------------
paper=$out/runs/paper
mkdir -p "$paper"
methods4=(
    "joint|"
    "mask-0.75|--mask 0.75"
    "factorized|--attn factorized"
    "frame|--attn frame"
    "last-k, mask 0.75, text frozen|--mask 0.75 --set tune=last-k --set freeze_text=1"
    "adapters|--set tune=adapters"
    "lora|--set tune=lora"
)
if [ ! -s "$paper/memory.jsonl" ]; then
    for preset in vit-b vit-l; do
        for m in "${methods4[@]}"; do
            for f in $paper_frames; do
                # shellcheck disable=SC2086
                j=$("$bin" memory --preset "$preset" --frames "$f" --batch 1 --json ${m#*|})
                printf '{"preset": "%s", "method": "%s", "frames": %s, "memory": %s}\n' \
                    "$preset" "${m%%|*}" "$f" "$j"
            done
        done
    done >"$paper/memory.tmp"
    mv "$paper/memory.tmp" "$paper/memory.jsonl"
fi

echo "== report: $out/RESULTS.md and $out/plots/"
python3 tools/experiments_report.py --out "$out" --bin "$bin" --scale "$scale" --seeds "$seeds"
if [ "${EXP_PUBLISH:-0}" = 1 ] && [ "$scale" != full ]; then
    echo "not published: EXP_SCALE=$scale (only a full run replaces docs/RESULTS.md)"
elif [ "${EXP_PUBLISH:-0}" = 1 ]; then
    mkdir -p docs/images/results
    cp "$out"/plots/*.png docs/images/results/
    sed 's#(plots/#(images/results/#g' "$out/RESULTS.md" >docs/RESULTS.md
    echo "published docs/RESULTS.md and docs/images/results/"
fi
echo "experiments finished in $((SECONDS - start)) s"
