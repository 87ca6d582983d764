#!/usr/bin/env bash
# make demo-text: the paper's second stage end to end, Table 3 in miniature. Generates the
# synthetic long-range benchmark (videos whose summary names every event in order, questions
# about the late events), trains three contrastive encoders (ImageViT: the image model on each
# frame; ShortViViT: 16 frames; LongViViT: 64 frames, 75% of tokens dropped), pretrains one small
# decoder LM on the training text, then for each encoder the resampler and gated
# cross-attention between it and the LM (both frozen), and evaluates each on held-out videos:
# summary ROUGE-L / CIDEr-D and QA accuracy by log-likelihood. Results in build/demo-text/.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=build/longvivit
out=${DEMO_OUT:-build/demo-text}
enc_steps=${DEMO_ENC_STEPS:-400}
lm_steps=${DEMO_LM_STEPS:-600}
text_steps=${DEMO_TEXT_STEPS:-300}
rm -rf "$out"
mkdir -p "$out"
start=$SECONDS

run() {   # run NAME ARGS...: one command, its output kept, its last lines shown on failure
    local name=$1
    shift
    "$bin" "$@" >"$out/$name.out" 2>"$out/$name.log" || { tail -n 20 "$out/$name.log"; exit 1; }
}

echo "== 1/5 synthetic benchmark: 256 videos of 64 s, a summary each, questions on late events"
run synth synth --out "$out/data" --videos 256 --frames 64 --size 32

common=(--data "$out/data/train.jsonl" --preset tiny --set text_len=40 --batch 16 --lr 1e-3
        --steps "$enc_steps" --json)
echo "== 2/5 three contrastive encoders, $enc_steps steps each"
run image train "${common[@]}" --out "$out/image" --frames 16 --attn frame
run short train "${common[@]}" --out "$out/short" --frames 16
run long train "${common[@]}" --out "$out/long" --frames 64 --mask 0.75

echo "== 3/5 the decoder LM on the training captions and summaries, $lm_steps steps"
run lm train --stage lm --data "$out/data/train.jsonl" --preset tiny --steps "$lm_steps" \
    --batch 16 --lr 3e-3 --out "$out/lm"

echo "== 4/5 resampler + gated cross-attention per encoder (encoder and LM frozen), $text_steps steps"
for name in image short long; do
    run "v2t_$name" train --stage text --data "$out/data/train.jsonl" \
        --encoder "$out/$name/ckpt.safetensors" --lm "$out/lm/lm.safetensors" \
        --steps "$text_steps" --batch 8 --lr 1e-3 --out "$out/v2t_$name"
done

echo "== 5/5 held-out videos: summaries against the truth, questions by log-likelihood"
num() { sed -n "s/.*\"$2\": \([0-9.eE+-]*\).*/\1/p" "$1" | head -n 1; }
printf "\n%-38s %9s %9s %9s\n" "model" "ROUGE-L" "CIDEr-D" "QA acc"
for name in image short long; do
    run "eval_$name" eval --v2t "$out/v2t_$name/v2t.safetensors" --data "$out/data/test.jsonl" \
        --qa "$out/data/qa.jsonl" --json
    j="$out/eval_$name.out"
    label=$(case $name in
        image) echo "ImageViT (each of 16 frames alone)" ;;
        short) echo "ShortViViT (16 frames)" ;;
        long) echo "LongViViT (64 frames, mask 0.75)" ;;
    esac)
    printf "%-38s %9.3f %9.3f %8.1f%%\n" "$label" "$(num "$j" rouge_l)" "$(num "$j" cider_d)" \
        "$(awk -v x="$(num "$j" qa_accuracy)" 'BEGIN { print 100 * x }')"
done
echo "(QA chance: 20%)"
echo
echo "three summaries of held-out videos by the LongViViT-based model, beside the truth:"
python3 - "$out/eval_long.out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for e in r.get("examples", [])[:3]:
    print("  " + e.get("video", ""))
    print("    generated: " + e.get("generated", ""))
    print("    truth:     " + e.get("truth", e.get("reference", "")))
PY
echo "demo-text finished in $((SECONDS - start)) s"
