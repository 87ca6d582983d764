#!/usr/bin/python3
"""Exactness of the pretrained starts (issue 16 item 2): our towers started from a CLIP image
tower and a BERT text tower compute what CLIP and BERT compute.

Two independent float64 PyTorch models written from the published architectures (Hugging Face
CLIPVisionModel + visual_projection, BertModel; not from our C, and without `transformers`):
  A. a video whose frames all show one image, in joint attention with inflate=central and
     act=quick_gelu: (1) one time step (frames == tubelet_t) and pool=cls gives CLIP's image
     embedding of that image; (2) several time steps (Ft > 1) and pool=mean gives CLIP's patch
     tokens, without the class token, mean-pooled after post_layernorm.
  B. text_arch=bert text_ln_eps=1e-12 gives BertModel's last_hidden_state, pooled at [CLS]
     (text_pool=cls) or as the mean over the real tokens (text_pool=mean), captions padded.
The script writes a tiny random CLIP (Hugging Face names) and BERT, and the input batch, runs
PROGRAM (build/pretrained_check) on every backend of its build, and compares the embeddings and
the pooled vectors. Then the test of the test: torch models broken on purpose (erf GELU for
QuickGELU, q and k swapped, no token-type row, BERT's eps 1e-5), and the class token with Ft > 1
(not an identity, see CASES), must each be reported as a mismatch.

Why Ft = 1 for the class token: in a static video (the temporal table zero, as at init) each
patch appears Ft times among the keys of joint attention with identical keys and values. Its Ft
copies together get Ft times one copy's exp(score), and the softmax's normaliser counts every
patch Ft times too, so the weight per distinct patch, and the output, are unchanged; the copies'
rows stay identical layer after layer, so their mean is one copy's. The class token appears once:
for Ft > 1 its weight falls by Ft relative to the patches, and the class row is CLIP's only at
Ft = 1. Without a class token (pool=mean) every key is repeated alike and the equality holds at
any Ft.

Exit status: 0 all checks pass and every break is caught, 1 otherwise, 2 on usage errors. When
torch or numpy is missing it prints "SKIP: ..." and exits 0 (1 under LV_REQUIRE_ALL=1), appending
the line to LV_SKIP_LOG when set, as tests/torch/run.sh does.

  /usr/bin/python3 tests/torch/pretrained.py PROGRAM [--workdir DIR] [--backend NAME]...
                                             [--self-test | --no-self-test] [--seed N]
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True                     # no __pycache__ in the source tree


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import skipping                                    # noqa: E402  (no torch needed)


def skip(reason):
    skipping.skip("pretrained exactness check", reason)


try:
    import numpy as np
    import torch
    import torch.nn.functional as Fn
except ImportError:
    skip(f"{sys.executable} cannot import torch and numpy (apt-get install python3-torch "
         "python3-numpy, or bash tools/install-deps.sh)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st                        # noqa: E402

# ---- sizes: the tiny preset's towers ----------------------------------------------------------
WIDTH, LAYERS, HEADS, PATCH, IMAGE, EMBED = 32, 2, 2, 8, 32, 16   # CLIP vision + projection
VOCAB, POSITIONS, TOKEN_TYPES, TEXT_LEN = 64, 16, 2, 12            # BERT (we take 12 positions)
BATCH = 3
CAPTION_LENGTHS = (12, 7, 3)                       # real tokens per caption, the rest padding

# ---- tolerances --------------------------------------------------------------------------------
# A tensor passes when max_i |got_i - want_i| <= rtol * max_i |want_i|: an absolute tolerance at
# the scale of the tensor (TOLERANCES.md's unit: rounding errors are absolute, and entries small by
# cancellation carry the same error as the large ones). The float64 models add no rounding of
# their own at this level, so the difference is our fp32 implementation's. ref rounds each stored
# activation once (sums in double): ~2^-24 = 6e-8 relative, ~25 times on the way (the tokenizer,
# ln_pre, ~10 per block, the final LayerNorm, pooling, projection, normalisation), sqrt(25) 6e-8
# = 3e-7 as a random walk. cpu and cuda-host also sum in fp32, ~sqrt(n) 6e-8 per matmul for n up
# to 384 terms (the inflated tubelet), 1.2e-6, over ~10 matmuls: ~2e-6 at worst if they added up.
# LayerNorm's 1/std leaves these as they are here: the random weights keep activations O(1).
# rtol 5e-6 sits above that estimate and 14x above the worst measured on every backend
# (TOLERANCES.md), and far below the smallest break the self-test plants.
TOLERANCES = {
    "video.pooled": 5e-6,
    "video.emb_n": 5e-6,
    "text.pooled": 5e-6,
    "text.emb_n": 5e-6,
}

# ---- the cases: C config overrides, and what the torch side computes --------------------------
# Every case runs both towers; `video` and `text` say which torch models it is compared with.
BERT_SETS = ["text_arch=bert", "text_ln_eps=1e-12"]
CASES = [
    # Property A at one time step: frames == tubelet_t, so Ft = 1 and the class token is CLIP's.
    dict(name="image-cls", video="cls", text="cls",
         sets=["frames=2", "tubelet_t=2", "inflate=central", "act=quick_gelu", "pool=cls",
               "text_pool=cls"] + BERT_SETS),
    # Property A at Ft = 4: no class token, mean of the patch rows: exact (duplicated keys).
    dict(name="video-mean", video="mean", text="mean",
         sets=["frames=8", "tubelet_t=2", "inflate=central", "act=quick_gelu", "pool=mean",
               "text_pool=mean"] + BERT_SETS),
    # The same with the average inflation, Ft = 2 (each frame's kernel w / t sums to w).
    dict(name="video-average", video="mean", text="cls",
         sets=["frames=8", "tubelet_t=4", "inflate=average", "act=quick_gelu", "pool=mean",
               "text_pool=cls"] + BERT_SETS),
]
# Not an identity (the self-test requires the mismatch): a class token with Ft = 4.
CLS_FT4 = dict(name="video-cls-ft4", video="cls", text="cls",
               sets=["frames=8", "tubelet_t=2", "inflate=central", "act=quick_gelu", "pool=cls",
                     "text_pool=cls"] + BERT_SETS)


# ---- files -------------------------------------------------------------------------------------

def save_safetensors(path, tensors):
    """name -> numpy array (float32, int32 or uint8), written little-endian in the given order."""
    dtypes = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtypes[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for data in blobs:
            f.write(data)


class Random:
    """float32 draws from one seeded generator; scales keep every activation O(1), so the
    nonlinearities and the attention pattern matter (at BERT's init std 0.02 the GELUs would
    differ by less than rounding, TOLERANCES.md)."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std=1.0, mean=0.0):
        x = mean + std * torch.randn(*shape, generator=self.g, dtype=torch.float64)
        return x.to(torch.float32).numpy()

    def linear(self, name, out, inp, t):
        t[name + ".weight"] = self.normal(out, inp, std=inp ** -0.5)
        t[name + ".bias"] = self.normal(out, std=0.1)

    def layernorm(self, name, n, t):
        t[name + ".weight"] = self.normal(n, std=0.2, mean=1.0)
        t[name + ".bias"] = self.normal(n, std=0.2)


def make_clip(rnd):
    """A CLIP vision tower and its projection under Hugging Face CLIPModel names."""
    t, D, g = {}, WIDTH, IMAGE // PATCH
    v = "vision_model."
    t[v + "embeddings.patch_embedding.weight"] = rnd.normal(D, 3, PATCH, PATCH,
                                                            std=(3 * PATCH * PATCH) ** -0.5)
    t[v + "embeddings.class_embedding"] = rnd.normal(D)
    t[v + "embeddings.position_embedding.weight"] = rnd.normal(1 + g * g, D, std=0.5)
    rnd.layernorm(v + "pre_layrnorm", D, t)
    for l in range(LAYERS):
        p = f"{v}encoder.layers.{l}."
        rnd.layernorm(p + "layer_norm1", D, t)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            rnd.linear(p + "self_attn." + proj, D, D, t)
        rnd.layernorm(p + "layer_norm2", D, t)
        rnd.linear(p + "mlp.fc1", 4 * D, D, t)
        rnd.linear(p + "mlp.fc2", D, 4 * D, t)
    rnd.layernorm(v + "post_layernorm", D, t)
    t["visual_projection.weight"] = rnd.normal(EMBED, D, std=D ** -0.5)
    return t


def make_bert(rnd):
    """A BertModel under its Hugging Face names. The embedding tables have BERT's init std 0.02,
    so the embeddings' LayerNorm sees a variance of ~1e-3 and its eps (1e-12) matters."""
    t, D = {}, WIDTH
    t["embeddings.word_embeddings.weight"] = rnd.normal(VOCAB, D, std=0.02)
    t["embeddings.position_embeddings.weight"] = rnd.normal(POSITIONS, D, std=0.02)
    t["embeddings.token_type_embeddings.weight"] = rnd.normal(TOKEN_TYPES, D, std=0.02)
    rnd.layernorm("embeddings.LayerNorm", D, t)
    for l in range(LAYERS):
        p = f"encoder.layer.{l}."
        for proj in ("query", "key", "value"):
            rnd.linear(p + "attention.self." + proj, D, D, t)
        rnd.linear(p + "attention.output.dense", D, D, t)
        rnd.layernorm(p + "attention.output.LayerNorm", D, t)
        rnd.linear(p + "intermediate.dense", 4 * D, D, t)
        rnd.linear(p + "output.dense", D, 4 * D, t)
        rnd.layernorm(p + "output.LayerNorm", D, t)
    rnd.linear("pooler.dense", D, D, t)            # BertModel has it; pooling here is ours
    return t


def make_images_and_text(rnd):
    """B images (S, S, 3) of normalised pixels, and B captions with padding: [CLS]-like id 2
    first, a [SEP]-like id 3 last, ids 5.. between, padding id 0 with text_valid 0."""
    images = rnd.normal(BATCH, IMAGE, IMAGE, 3)
    ids = np.zeros((BATCH, TEXT_LEN), dtype=np.int32)
    valid = np.zeros((BATCH, TEXT_LEN), dtype=np.uint8)
    words = torch.randint(5, VOCAB, (BATCH, TEXT_LEN), generator=rnd.g).numpy()
    for b, n in enumerate(CAPTION_LENGTHS):
        ids[b, :n] = words[b, :n]
        ids[b, 0], ids[b, n - 1] = 2, 3
        valid[b, :n] = 1
    return images, ids, valid


def frames_of(case):
    return int(next(s for s in case["sets"] if s.startswith("frames=")).split("=")[1])


def write_input(path, images, ids, valid, frames):
    """The static video: every frame is the sample's image."""
    video = np.ascontiguousarray(np.repeat(images[:, None], frames, axis=1))
    save_safetensors(path, {"video": video, "text": ids, "text_valid": valid})


# ---- (a) CLIP's vision tower, as Hugging Face's CLIPVisionModel computes it ------------------

def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def attention(x, q, k, v, heads, key_valid=None):
    """softmax(q k^T) v per head, q already scaled; key_valid (B, N) excludes padding keys."""
    B, N, D = x.shape
    hd = D // heads
    split = lambda y: y.view(B, N, heads, hd).transpose(1, 2)        # noqa: E731
    scores = split(q) @ split(k).transpose(-1, -2)                    # (B, H, N, N)
    if key_valid is not None:
        scores = scores.masked_fill(~key_valid[:, None, None, :], -math.inf)
    out = torch.softmax(scores, dim=-1) @ split(v)
    return out.transpose(1, 2).reshape(B, N, D)


def linear(x, t, name):
    return x @ t[name + ".weight"].T + t[name + ".bias"]


def clip_image(t, pixels, class_token=True, act="quick_gelu", swap_qk=False):
    """pixels (B, 3, S, S) -> (pooled (B, D), normalised embedding (B, E)). class_token=False:
    the patch tokens alone (position rows 1..), pooled as the mean of post_layernorm(rows)."""
    v, eps = "vision_model.", 1e-5
    D = t[v + "embeddings.class_embedding"].shape[0]
    x = Fn.conv2d(pixels, t[v + "embeddings.patch_embedding.weight"], stride=PATCH)
    x = x.flatten(2).transpose(1, 2)                                  # (B, P, D), row y g + x
    pos = t[v + "embeddings.position_embedding.weight"]
    if class_token:
        cls = t[v + "embeddings.class_embedding"].expand(x.shape[0], 1, D)
        x = torch.cat([cls, x], dim=1) + pos
    else:
        x = x + pos[1:]
    x = layer_norm(x, t[v + "pre_layrnorm.weight"], t[v + "pre_layrnorm.bias"], eps)
    for l in range(LAYERS):
        p = f"{v}encoder.layers.{l}."
        h = layer_norm(x, t[p + "layer_norm1.weight"], t[p + "layer_norm1.bias"], eps)
        q = linear(h, t, p + "self_attn.q_proj") * (D // HEADS) ** -0.5
        k = linear(h, t, p + "self_attn.k_proj")
        if swap_qk:
            q, k = k * (D // HEADS) ** -0.5, q / (D // HEADS) ** -0.5
        a = attention(h, q, k, linear(h, t, p + "self_attn.v_proj"), HEADS)
        x = x + linear(a, t, p + "self_attn.out_proj")
        h = layer_norm(x, t[p + "layer_norm2.weight"], t[p + "layer_norm2.bias"], eps)
        h = linear(h, t, p + "mlp.fc1")
        h = h * torch.sigmoid(1.702 * h) if act == "quick_gelu" else Fn.gelu(h)
        x = x + linear(h, t, p + "mlp.fc2")
    w, b = t[v + "post_layernorm.weight"], t[v + "post_layernorm.bias"]
    pooled = layer_norm(x[:, 0], w, b, eps) if class_token else layer_norm(x, w, b, eps).mean(1)
    emb = pooled @ t["visual_projection.weight"].T
    return pooled, emb / emb.norm(dim=-1, keepdim=True)


# ---- (b) BertModel ---------------------------------------------------------------------------

def bert_text(t, ids, valid, proj, pool="cls", token_type=True, eps=1e-12):
    """ids, valid (B, T) -> (pooled (B, D), normalize(pooled @ proj^T) (B, E)), pooled the
    [CLS] row of last_hidden_state or its mean over the real tokens."""
    T = ids.shape[1]
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:T]
    if token_type:                                 # token_type_ids all 0
        x = x + t["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    D = x.shape[-1]
    for l in range(LAYERS):
        p = f"encoder.layer.{l}."
        s = p + "attention.self."
        q = linear(x, t, s + "query") * (D // HEADS) ** -0.5
        a = attention(x, q, linear(x, t, s + "key"), linear(x, t, s + "value"), HEADS, valid)
        x = layer_norm(x + linear(a, t, p + "attention.output.dense"),
                       t[p + "attention.output.LayerNorm.weight"],
                       t[p + "attention.output.LayerNorm.bias"], eps)
        h = Fn.gelu(linear(x, t, p + "intermediate.dense"))            # erf GELU
        x = layer_norm(x + linear(h, t, p + "output.dense"), t[p + "output.LayerNorm.weight"],
                       t[p + "output.LayerNorm.bias"], eps)
    if pool == "cls":
        pooled = x[:, 0]
    else:
        m = valid.to(x.dtype)[..., None]
        pooled = (x * m).sum(1) / m.sum(1)
    emb = pooled @ proj.T
    return pooled, emb / emb.norm(dim=-1, keepdim=True)


# ---- running and comparing -------------------------------------------------------------------

def f64(tensors):
    return {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in tensors.items()}


def references(case, clip, bert, images, ids, valid, got, breaks=()):
    """The torch side's tensors for a case, given C's output `got` (for text.proj.weight, which
    BERT has no counterpart of and which keeps our init)."""
    pixels = torch.from_numpy(images.astype(np.float64)).permute(0, 3, 1, 2)
    vp, ve = clip_image(clip, pixels, class_token=case["video"] == "cls",
                        act="gelu" if "erf-gelu" in breaks else "quick_gelu",
                        swap_qk="swap-qk" in breaks)
    proj = torch.from_numpy(got["text.proj.weight"].astype(np.float64))
    tp, te = bert_text(bert, torch.from_numpy(ids.astype(np.int64)),
                       torch.from_numpy(valid.astype(bool)), proj, pool=case["text"],
                       token_type="no-token-type" not in breaks,
                       eps=1e-5 if "bert-eps" in breaks else 1e-12)
    return {"video.pooled": vp, "video.emb_n": ve, "text.pooled": tp, "text.emb_n": te}


def compare(got, want, rtol):
    """(max |err|, max |err| / max |want|, that as a fraction of rtol)."""
    got = np.asarray(got, dtype=np.float64).reshape(want.shape)
    want = want.numpy()
    if not np.all(np.isfinite(got)):
        return math.inf, math.inf, math.inf
    err = float(np.max(np.abs(got - want)))
    rel = err / float(np.max(np.abs(want)))
    return err, rel, rel / rtol


def run_program(program, case, backend, files, work):
    out = os.path.join(work, f"out-{case['name']}-{backend}.safetensors")
    cmd = [program, "--preset", "tiny", "--backend", backend, "--clip", files["clip"],
           "--bert", files["bert"], "--in", files["in-" + case["name"]], "--out", out]
    for s in case["sets"]:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    got, _ = st.load(out)
    return got


def check_case(case, backend, got, want):
    """Prints one line per tensor; returns the worst fraction of the tolerance."""
    worst = 0.0
    for name, rtol in TOLERANCES.items():
        err, rel, frac = compare(got[name], want[name], rtol)
        worst = max(worst, frac)
        print(f"  {case['name']:<14} {backend:<9} {name:<13} max|err| {err:.2e} = {rel:.2e} "
              f"of max|want|, tol {rtol:.0e}: {frac:5.3f} of tol  "
              f"{'ok' if frac <= 1 else 'FAIL'}")
    return worst


# The test of the test: the case must pass unbroken, and fail with the torch side broken.
VIDEO, TEXT = ("video.pooled", "video.emb_n"), ("text.pooled", "text.emb_n")
BREAKS = [
    ("erf-gelu", "image-cls", VIDEO, "torch's CLIP MLP uses the erf GELU instead of QuickGELU"),
    ("swap-qk", "video-mean", VIDEO, "torch's CLIP attention takes q from k_proj, k from q_proj"),
    ("no-token-type", "image-cls", TEXT, "torch's BERT embeddings leave out token_type row 0"),
    ("bert-eps", "video-mean", TEXT, "torch's BERT LayerNorms use eps 1e-5 instead of 1e-12"),
]


def worst_fraction(got, want, names=TOLERANCES):
    return max(compare(got[n], want[n], TOLERANCES[n])[2] for n in names)


def self_test(program, files, work, clip, bert, images, ids, valid, cases_got):
    """True when every case passes unbroken on ref and fails with each break, and the class
    token with Ft = 4 fails where Ft = 1 passes. cases_got: ref's outputs, run here if absent."""
    for case in CASES:
        if case["name"] not in cases_got:
            cases_got[case["name"]] = run_program(program, case, "ref", files, work)
    print("self-test (ref backend): each case must pass as it is and FAIL when broken")
    caught = 0
    for brk, case_name, tower, what in BREAKS:
        case = next(c for c in CASES if c["name"] == case_name)
        got = cases_got[case_name]
        clean = worst_fraction(got, references(case, clip, bert, images, ids, valid, got), tower)
        broken = worst_fraction(got, references(case, clip, bert, images, ids, valid, got,
                                                breaks=(brk,)), tower)
        caught += clean <= 1 < broken
        print(f"  {brk:<14} {what} ({case_name}): {clean:.3g} of tol as it is, {broken:.3g} "
              f"broken: {'caught' if clean <= 1 < broken else 'NOT CAUGHT'}")
    files["in-" + CLS_FT4["name"]] = os.path.join(work, f"in-{CLS_FT4['name']}.safetensors")
    write_input(files["in-" + CLS_FT4["name"]], images, ids, valid, frames_of(CLS_FT4))
    got = run_program(program, CLS_FT4, "ref", files, work)
    ft4 = worst_fraction(got, references(CLS_FT4, clip, bert, images, ids, valid, got), VIDEO)
    ref1 = cases_got["image-cls"]
    ft1 = worst_fraction(ref1, references(CASES[0], clip, bert, images, ids, valid, ref1),
                         VIDEO)
    caught += ft1 <= 1 < ft4
    print(f"  {'cls-ft4':<14} the class token against CLIP's class row, not an identity at "
          f"Ft = 4 (its attention weight is diluted by Ft): {ft1:.3g} of tol at Ft = 1, "
          f"{ft4:.3g} at Ft = 4: {'caught' if ft1 <= 1 < ft4 else 'NOT CAUGHT'}")
    return caught == len(BREAKS) + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("program", help="build/pretrained_check")
    ap.add_argument("--workdir", help="keep the files here (default: a temporary folder)")
    ap.add_argument("--backend", action="append",
                    help="backends to check (default: every one the program has)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--self-test", action="store_true", help="only the test of the test")
    ap.add_argument("--no-self-test", action="store_true", help="skip the test of the test")
    args = ap.parse_args()
    if not os.access(args.program, os.X_OK):
        print(f"pretrained.py: {args.program} is not an executable (make BUILD=... "
              "build/pretrained_check builds it)")
        return 2
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    t0 = time.time()
    work = args.workdir or tempfile.mkdtemp(prefix="lv_pretrained_")
    os.makedirs(work, exist_ok=True)
    rnd = Random(args.seed)
    clip_np, bert_np = make_clip(rnd), make_bert(rnd)
    images, ids, valid = make_images_and_text(rnd)
    files = {"clip": os.path.join(work, "clip.safetensors"),
             "bert": os.path.join(work, "bert.safetensors")}
    save_safetensors(files["clip"], clip_np)
    save_safetensors(files["bert"], bert_np)
    for case in CASES:
        files["in-" + case["name"]] = os.path.join(work, f"in-{case['name']}.safetensors")
        write_input(files["in-" + case["name"]], images, ids, valid, frames_of(case))
    clip, bert = f64(clip_np), f64(bert_np)
    listed = subprocess.run([args.program, "--backends"], capture_output=True, text=True)
    if listed.returncode != 0 or "ref" not in listed.stdout.split():
        print(f"pretrained.py: {args.program} --backends did not list ref:\n{listed.stderr}")
        return 1
    backends = args.backend or listed.stdout.split()
    print(f"pretrained exactness: seed {args.seed}, CLIP vision width {WIDTH} x {LAYERS} layers "
          f"patch {PATCH} image {IMAGE}, BERT width {WIDTH} x {LAYERS} layers, B {BATCH}, "
          f"captions of {CAPTION_LENGTHS} tokens; backends {', '.join(backends)}")
    ok, cases_got = True, {}
    try:
        for case in CASES if not args.self_test else []:
            print(f"{case['name']}: --set {' '.join(case['sets'])}")
            for backend in backends:
                got = run_program(args.program, case, backend, files, work)
                if backend == "ref":
                    cases_got[case["name"]] = got
                want = references(case, clip, bert, images, ids, valid, got)
                ok &= check_case(case, backend, got, want) <= 1
        if not args.no_self_test:
            ok &= self_test(args.program, files, work, clip, bert, images, ids, valid, cases_got)
    except RuntimeError as e:                      # the program failed: its message, no trace
        print(f"FAIL: {e}")
        ok = False
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"pretrained exactness: {'pass' if ok else 'FAIL'} ({time.time() - t0:.1f} s, "
          f"torch {torch.__version__})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
