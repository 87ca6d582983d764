#!/usr/bin/env bash
# Writes the seed corpora of the fuzz harnesses: small valid files of each format, one folder per
# harness (DIR/fuzz_NAME/), plus the committed inputs of tests/fuzz/regressions/ (the inputs of
# past findings, kept so every run replays them). Usage: tests/fuzz/seeds.sh DIR
set -eu
out=${1:?usage: tests/fuzz/seeds.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
seed() {   # seed HARNESS NAME: stdin into DIR/fuzz_HARNESS/NAME
    mkdir -p "$out/fuzz_$1"
    cat >"$out/fuzz_$1/$2"
}
# safetensors: u64 little-endian header length, JSON header, data
st() {   # st HEADER DATA_PRINTF
    local len=${#1}
    printf "$(printf '\\x%02x' $((len & 255)) $(((len >> 8) & 255)) 0 0 0 0 0 0)"
    printf '%s' "$1"
    printf "$2"
}
st '{"__metadata__":{"format":"x"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' \
    '\x00\x00\x80\x3f\x00\x00\x00\xc0' | seed safetensors f32
st '{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2,1],"data_offsets":[8,12]},"c":{"dtype":"F16","shape":[],"data_offsets":[12,14]}}' \
    '\x07\x00\x00\x00\x00\x00\x00\x00\x80\x3f\x00\xc0\x00\x3c' | seed safetensors mixed
st '{"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"d":{"dtype":"F64","shape":[1],"data_offsets":[3,11]},"e":{"dtype":"BOOL","shape":[0],"data_offsets":[11,11]}}' \
    '\x01\x02\x03\x00\x00\x00\x00\x00\x00\xf0\x3f' | seed safetensors ints
st '{}' '' | seed safetensors empty
# a model file's configuration (what lv_config_format writes), alone and inside safetensors
config='preset=tiny
frames=8
image_size=32
tubelet_t=2
patch=8
width=32
layers=2
heads=2
mlp_ratio=4
attn=joint
vocab=29
text_len=40
embed_dim=16'
printf '%s\n' "$config" | seed config tiny
printf 'preset=vit-b\nattn=factorized\ntune=lora\nlora_rank=4\n' | seed config lora
printf 'frames=16\ntubes=none\nmask=tube\nmask_ratio=0.5\n' | seed config mask
json_config=$(printf '%s' "$config" | sed ':a;N;$!ba;s/\n/\\n/g')
st "{\"__metadata__\":{\"format\":\"longvivit-params-1\",\"config\":\"$json_config\"}}" '' \
    | seed model_io params
st "{\"__metadata__\":{\"format\":\"longvivit-ckpt-1\",\"config\":\"preset=tiny\\nframes=4\",\"step\":\"2\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}" \
    '\x00\x00\x80\x3f' | seed model_io ckpt
# manifests
printf '%s\n' '{"video": "videos/a.mp4", "caption": "a man slices a tomato.", "start": 2.5, "end": 8}' \
    '' '{"image": "/abs/b.png", "caption": "a red square.", "id": "img-1"}' \
    '{"video": "c.webm", "caption": "pan fries.", "start": 0}' | seed manifest basic
printf '\xef\xbb\xbf{"video": "a.mp4", "caption": "bom"}\r\n' | seed manifest bom
printf '%s\n' '{"video": "videos/a.mp4", "question": "what does he cut?", "options": ["bread", "a tomato", "wood", "paper", "hair"], "answer": 1, "id": "q1"}' \
    '{"video": "b.mp4", "question": "q?", "options": ["a", "b", "c", "d", "e"]}' | seed mcq basic
cat <<'JSON' | seed msrvtt basic
{"videos": [{"video_id": "video7010", "split": "test"}, {"video_id": "video7011", "split": "test"},
 {"video_id": "video0", "split": "train"}],
 "sentences": [{"video_id": "video7010", "caption": "a man is cooking."},
  {"video_id": "video7011", "caption": "a dog runs."}, {"video_id": "video7010", "caption": "someone cooks."},
  {"video_id": "video0", "caption": "train only."}]}
JSON
cat <<'JSON' | seed youcook2 basic
{"database": {"GLd3aX16zBg": {"subset": "validation", "annotations": [
  {"segment": [10, 21], "sentence": "spread butter on two slices of white bread"},
  {"segment": [22.5, 31], "sentence": "place a slice of cheese on the bread"}]},
 "xHr8X2Wpmno": {"subset": "training", "annotations": [{"segment": [0, 5], "sentence": "x"}]}}}
JSON
# EgoSchema: questions.json, a NUL byte, then the answers (the harness splits there)
{ cat <<'JSON'
[{"q_uid": "0074f737-11cb-497d-8d07-77c3a8127391", "question": "what is c doing?",
  "option 0": "cooking", "option 1": "cleaning", "option 2": "reading", "option 3": "painting",
  "option 4": "sleeping"}]
JSON
printf '\0{"0074f737-11cb-497d-8d07-77c3a8127391": 3}'; } | seed egoschema with_answers
printf '[{"q_uid": "q", "question": "?", "option 0": "a", "option 1": "b", "option 2": "c", "option 3": "d", "option 4": "e"}]' \
    | seed egoschema no_answers
# vocab.txt (BERT WordPiece: one token per line, id = line - 1)
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nman\nis\nslic\n##ing\ntomato\n##es\n,\n.\nthen\nhe\nfr\n##ies\nthem\nin\nthe\npan\n' \
    | seed vocab basic
printf '[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n\r\n\xc3\xa9t\xc3\xa9\r\n\xe4\xb8\xad\r\n' | seed vocab crlf
# pictures: from the ffmpeg program (Debian's ffmpeg, tools/install-deps.sh) when it is here
if command -v ffmpeg >/dev/null 2>&1; then
    pic() {   # pic HARNESS NAME.EXT PIX_FMT [ffmpeg options]
        local h=$1 name=$2 fmt=$3
        shift 3
        mkdir -p "$out/fuzz_$h"
        ffmpeg -v error -nostdin -y -f lavfi -i testsrc=size=8x6:rate=1 -frames:v 1 \
            -pix_fmt "$fmt" "$@" "$out/fuzz_$h/$name"
    }
    pic png rgb.png rgb24
    pic png grey.png gray
    pic png pal.png pal8
    pic png rgba.png rgba
    pic png rgb48.png rgb48be
    pic png ya16.png ya16be
    pic jpeg yuv420.jpg yuvj420p
    pic jpeg yuv444.jpg yuvj444p
    pic jpeg yuv422.jpg yuvj422p
    pic jpeg grey.jpg gray
else
    echo "seeds.sh: no ffmpeg program: the PNG and JPEG harnesses start from their signatures only"
    printf '\x89PNG\r\n\x1a\n' | seed png signature
    printf '\xff\xd8\xff\xd9' | seed jpeg signature
fi
# past findings, replayed on every run
for d in "$here"/regressions/fuzz_*; do
    [ -d "$d" ] || continue
    mkdir -p "$out/$(basename "$d")"
    cp "$d"/* "$out/$(basename "$d")/" 2>/dev/null || true
done
