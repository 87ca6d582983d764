#!/usr/bin/env bash
# make demo: the method end to end on the embedded default. Generates the synthetic long-range
# benchmark, trains a 16-frame ShortViViT and a 64-frame LongViViT with 75% token masking (tiny
# preset), evaluates both on held-out videos and prints one table. Results in build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=build/longvivit
out=${DEMO_OUT:-build/demo}
steps=${DEMO_STEPS:-600}
rm -rf "$out"
mkdir -p "$out"
start=$SECONDS

echo "== 1/4 synthetic benchmark: 320 videos of 64 s (events spread over the whole video)"
"$bin" synth --out "$out/data" --videos 320 --frames 64 --size 32

# peak memory as the OS reports it (/usr/bin/time -v), or the program's own getrusage figure
peak_of() {
    local log=$1 json=$2
    local kb
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log" 2>/dev/null | tail -n 1)
    if [ -n "$kb" ]; then echo $((kb / 1024)); else
        sed -n 's/.*"peak_rss_mb": \([0-9.]*\).*/\1/p' "$json" | cut -d. -f1; fi
}

train() {   # train NAME ARGS...: trains, evaluates on test.jsonl and mcq.jsonl, keeps the JSON
    local name=$1
    shift
    local timer=()
    [ -x /usr/bin/time ] && timer=(/usr/bin/time -v)
    "${timer[@]}" "$bin" train --data "$out/data/train.jsonl" --preset tiny --set text_len=40 \
        --batch 16 --lr 1e-3 --steps "$steps" --out "$out/$name" --json "$@" \
        >"$out/$name.json" 2>"$out/$name.log" || { tail -n 20 "$out/$name.log"; exit 1; }
    grep "train step" "$out/$name.log" | tail -n 1 || true
}

echo "== 2/4 ShortViViT: first 16 frames (1 FPS), every token, $steps steps"
train short --frames 16
echo "== 3/4 LongViViT: 64 frames (1 FPS), 75% of tokens dropped, $steps steps"
train long --frames 64 --mask 0.75

field() { sed -n "s/.*\"$2\": {\"r1\": \([0-9.]*\).*/\1/p" "$1"; }
mcq() { sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" "$1"; }
echo "== 4/4 zero-shot evaluation on the 80 held-out videos (chance: R@1 1.2%, MCQ 20%)"
printf "\n%-34s %10s %10s %10s %10s %14s\n" "model" "t2v R@1" "v2t R@1" "MCQ acc" "MCQ blind" \
    "peak memory"
for name in short long; do
    j="$out/$name.json"
    label=$([ $name = short ] && echo "ShortViViT (16 frames)" || echo "LongViViT (64 frames, mask 0.75)")
    printf "%-34s %9.1f%% %9.1f%% %9.1f%% %9.1f%% %10s MiB\n" "$label" \
        "$(awk -v x="$(field "$j" t2v)" 'BEGIN { print 100 * x }')" \
        "$(awk -v x="$(field "$j" v2t)" 'BEGIN { print 100 * x }')" \
        "$(awk -v x="$(mcq "$j" mcq_accuracy)" 'BEGIN { print 100 * x }')" \
        "$(awk -v x="$(mcq "$j" mcq_blind_accuracy)" 'BEGIN { print 100 * x }')" \
        "$(peak_of "$out/$name.log" "$j")"
done
echo "(MCQ blind: each question against the mean video embedding, the options' texts alone)"
echo
echo "pictures: $out/long/loss.png $out/long/similarity.png (and the same for short)"
"$bin" frames "$out/data/videos/v0300.mp4" --max-frames 64 --size 32 --patch 8 --mask 0.75 \
    --png "$out/what_the_model_sees.png" >/dev/null
echo "          $out/what_the_model_sees.png (a test video, the 75% of tokens dropped hatched)"
echo "demo finished in $((SECONDS - start)) s"
