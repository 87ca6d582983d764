#!/usr/bin/python3
"""Exactness of the GPT-2 start (issue 17): the video-to-text stage's decoder LM loaded from a
GPT-2 file (lv_v2t_init_lm_from_gpt2) with lm_act=gelu_tanh computes GPT-2's logits.

An independent float64 PyTorch GPT-2 written from the published architecture (Radford et al.
2019, OpenAI's gpt-2 model.py / Hugging Face GPT2LMHeadModel; not from our C, and without
`transformers`): token plus learned position embeddings, pre-LN blocks of causal self-attention
and an MLP with GELU's tanh approximation, Conv1D layers computing x W + b with W stored
(in, out), a final LayerNorm, logits through the tied token embedding; LayerNorm eps 1e-5. Keys
the attention mask excludes (padding) are never attended; positions are row indices (Hugging
Face's default position_ids with an attention_mask).

The script writes a tiny random GPT-2 under GPT2LMHeadModel's names ("transformer.", a tied
lm_head.weight, the attn.bias / attn.masked_bias buffers; vocabulary 64, 40 positions, width 32,
2 layers), a batch of 4 sequences of 16 tokens padded on the right, on the left and on both
sides, runs PROGRAM (build/gpt2_check) on every backend of its build, and compares the logits of
the real tokens. Then the test of the test: the torch model broken on purpose (the erf GELU for
GELU's tanh approximation, c_attn's weight copied into our (3W, W) layout without its transpose,
the position rows off by one, the padding attended) must each be reported as a mismatch.

Exit status: 0 all checks pass and every break is caught, 1 otherwise, 2 on usage errors. When
torch or numpy is missing it prints "SKIP: ..." and exits 0 (1 under LV_REQUIRE_ALL=1), appending
the line to LV_SKIP_LOG when set, as tests/torch/run.sh does.

  /usr/bin/python3 tests/torch/gpt2.py PROGRAM [--workdir DIR] [--backend NAME]...
                                       [--self-test | --no-self-test] [--seed N]
"""
import argparse
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
    skipping.skip("GPT-2 exactness check", reason)


try:
    import numpy as np
    import torch
except ImportError:
    skip(f"{sys.executable} cannot import torch and numpy (apt-get install python3-torch "
         "python3-numpy, or bash tools/install-deps.sh)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st                        # noqa: E402
from pretrained import Random, save_safetensors    # noqa: E402  (torch is importable here)

# ---- sizes: the tiny preset's LM -------------------------------------------------------------
VOCAB, POSITIONS, WIDTH, LAYERS, HEADS = 64, 40, 32, 2, 2
CTX = 32                                           # lm_ctx: the first 32 of the 40 wpe rows
BATCH, T = 4, 16
VALID_SPANS = ((0, 16), (0, 9), (5, 16), (2, 13))  # [first, last) real rows: full, right-,
                                                   # left- and two-sided padding
EPS = 1e-5                                         # GPT-2's layer_norm_epsilon (our ln_eps)
SETS = ["lm_ctx=%d" % CTX, "lm_heads=%d" % HEADS, "lm_act=gelu_tanh", "ln_eps=1e-5"]

# ---- tolerance ---------------------------------------------------------------------------------
# The logits pass when max |got - want| over the real rows <= RTOL * max |want| (an absolute
# tolerance at the tensor's scale, as pretrained.py's: rounding errors are absolute). The float64
# model adds no rounding of its own at this level, so the difference is our fp32 implementation's.
# ref rounds each stored activation once (sums in double), ~2^-24 = 6e-8 relative, ~12 times per
# block and 5 more (embedding, final LayerNorm, logits): sqrt(30) 6e-8 = 3e-7 as a random walk.
# cpu and cuda-host also sum in fp32, ~sqrt(n) 6e-8 per matmul for n <= 128 terms, ~7e-7, over
# ~10 matmuls: ~2e-6 at worst if they added up. The random weights keep activations O(1), so
# LayerNorm's 1/std leaves these as they are. 5e-6 sits above that estimate and far below the
# smallest break the self-test plants.
RTOL = 5e-6


# ---- the file and the batch ------------------------------------------------------------------

def conv1d(rnd, name, inp, out, t):
    """A GPT-2 Conv1D layer: weight (in, out), x W + b."""
    t[name + ".weight"] = rnd.normal(inp, out, std=inp ** -0.5)
    t[name + ".bias"] = rnd.normal(out, std=0.1)


def make_gpt2(rnd):
    """A GPT2LMHeadModel under its Hugging Face names, random, scaled so every activation is
    O(1) (at GPT-2's init std 0.02 the two GELUs would differ by less than rounding)."""
    t, D, p = {}, WIDTH, "transformer."
    t[p + "wte.weight"] = rnd.normal(VOCAB, D)
    t[p + "wpe.weight"] = rnd.normal(POSITIONS, D, std=0.5)
    causal = np.tril(np.ones((POSITIONS, POSITIONS), dtype=np.float32))[None, None]
    for l in range(LAYERS):
        h = f"{p}h.{l}."
        rnd.layernorm(h + "ln_1", D, t)
        t[h + "attn.bias"] = causal                  # buffers of older files: not needed
        t[h + "attn.masked_bias"] = np.array(-1e4, dtype=np.float32)
        conv1d(rnd, h + "attn.c_attn", D, 3 * D, t)
        conv1d(rnd, h + "attn.c_proj", D, D, t)
        rnd.layernorm(h + "ln_2", D, t)
        conv1d(rnd, h + "mlp.c_fc", D, 4 * D, t)
        conv1d(rnd, h + "mlp.c_proj", 4 * D, D, t)
    rnd.layernorm(p + "ln_f", D, t)
    t["lm_head.weight"] = t[p + "wte.weight"].copy()  # tied
    return t


def make_batch(rnd):
    """ids (B, T) and valid (B, T): random tokens on each sample's real rows, 0 elsewhere."""
    words = torch.randint(0, VOCAB, (BATCH, T), generator=rnd.g).numpy().astype(np.int32)
    ids = np.zeros((BATCH, T), dtype=np.int32)
    valid = np.zeros((BATCH, T), dtype=np.uint8)
    for b, (lo, hi) in enumerate(VALID_SPANS):
        ids[b, lo:hi] = words[b, lo:hi]
        valid[b, lo:hi] = 1
    return ids, valid


# ---- GPT-2, as published -----------------------------------------------------------------------

def layer_norm(x, t, name):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * t[name + ".weight"] + t[name + ".bias"]


def gelu_new(x):
    """GPT-2's activation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def conv1d_apply(x, t, name, breaks):
    w = t[name + ".weight"]
    if "c_attn-untransposed" in breaks and name.endswith("attn.c_attn"):
        w = w.reshape(w.shape[1], w.shape[0]).T    # the (W, 3W) bytes read as our (3W, W)
    return x @ w + t[name + ".bias"]


def attention(x, t, name, valid, breaks):
    """Causal multi-head self-attention; keys where valid is 0 are never attended."""
    B, N, D = x.shape
    hd = D // HEADS
    q, k, v = conv1d_apply(x, t, name + ".c_attn", breaks).split(D, dim=-1)
    split = lambda y: y.view(B, N, HEADS, hd).transpose(1, 2)          # noqa: E731
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(hd)     # (B, H, N, N)
    allowed = torch.tril(torch.ones(N, N, dtype=torch.bool))[None, None]
    if "padding-attended" not in breaks:
        allowed = allowed & valid[:, None, None, :]
    # the lowest finite score, as Hugging Face's: a padding row with no key left stays finite
    # (its output is never compared), so no NaN reaches the real rows through its values
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    out = torch.softmax(scores, dim=-1) @ split(v)
    return conv1d_apply(out.transpose(1, 2).reshape(B, N, D), t, name + ".c_proj", breaks)


def gpt2_logits(t, ids, valid, breaks=()):
    """ids, valid (B, T) -> logits (B, T, V), rows where valid is 0 meaningless."""
    p = "transformer."
    first = 1 if "positions-off-by-one" in breaks else 0
    x = t[p + "wte.weight"][ids] + t[p + "wpe.weight"][first:first + ids.shape[1]]
    act = torch.nn.functional.gelu if "erf-gelu" in breaks else gelu_new
    for l in range(LAYERS):
        h = f"{p}h.{l}."
        x = x + attention(layer_norm(x, t, h + "ln_1"), t, h + "attn", valid, breaks)
        m = act(conv1d_apply(layer_norm(x, t, h + "ln_2"), t, h + "mlp.c_fc", breaks))
        x = x + conv1d_apply(m, t, h + "mlp.c_proj", breaks)
    return layer_norm(x, t, p + "ln_f") @ t[p + "wte.weight"].T


# ---- running and comparing -------------------------------------------------------------------

def run_program(program, backend, files, work):
    out = os.path.join(work, f"logits-{backend}.safetensors")
    cmd = [program, "--preset", "tiny", "--backend", backend, "--gpt2", files["gpt2"],
           "--in", files["in"], "--out", out]
    for s in SETS:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    got, _ = st.load(out)
    return got["logits"]


def compare(got, want, valid):
    """(max |err|, max |err| / max |want|, that as a fraction of RTOL) over the real rows."""
    rows = valid.numpy().astype(bool)
    got = np.asarray(got, dtype=np.float64).reshape(want.shape)[rows]
    want = want.numpy()[rows]
    if not np.all(np.isfinite(got)):
        return math.inf, math.inf, math.inf
    err = float(np.max(np.abs(got - want)))
    rel = err / float(np.max(np.abs(want)))
    return err, rel, rel / RTOL


BREAKS = [
    ("erf-gelu", "the MLP uses the erf GELU instead of GELU's tanh approximation"),
    ("c_attn-untransposed", "c_attn's (W, 3W) weight read as our (3W, W) without its transpose"),
    ("positions-off-by-one", "position rows 1..T instead of 0..T-1"),
    ("padding-attended", "padding keys attended (the left-padded samples change)"),
]


def self_test(gpt2, ids, valid, got):
    """True when ref's logits pass against the model as it is and fail against each break."""
    clean = compare(got, gpt2_logits(gpt2, ids, valid), valid)[2]
    print(f"self-test (ref backend): {clean:.3g} of tol as it is; each break must FAIL")
    caught = 0
    for brk, what in BREAKS:
        broken = compare(got, gpt2_logits(gpt2, ids, valid, breaks=(brk,)), valid)[2]
        ok = clean <= 1 < broken
        caught += ok
        print(f"  {brk:<21} {what}: {broken:.3g} of tol: {'caught' if ok else 'NOT CAUGHT'}")
    return caught == len(BREAKS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("program", help="build/gpt2_check")
    ap.add_argument("--workdir", help="keep the files here (default: a temporary folder)")
    ap.add_argument("--backend", action="append",
                    help="backends to check (default: every one the program has)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--self-test", action="store_true", help="only the test of the test")
    ap.add_argument("--no-self-test", action="store_true", help="skip the test of the test")
    args = ap.parse_args()
    if not os.access(args.program, os.X_OK):
        print(f"gpt2.py: {args.program} is not an executable (make BUILD=... build/gpt2_check "
              "builds it)")
        return 2
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    t0 = time.time()
    work = args.workdir or tempfile.mkdtemp(prefix="lv_gpt2_")
    os.makedirs(work, exist_ok=True)
    rnd = Random(args.seed)
    gpt2_np = make_gpt2(rnd)
    ids_np, valid_np = make_batch(rnd)
    files = {"gpt2": os.path.join(work, "gpt2.safetensors"),
             "in": os.path.join(work, "in.safetensors")}
    save_safetensors(files["gpt2"], gpt2_np)
    save_safetensors(files["in"], {"ids": ids_np, "valid": valid_np})
    gpt2 = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in gpt2_np.items()}
    ids = torch.from_numpy(ids_np.astype(np.int64))
    valid = torch.from_numpy(valid_np.astype(bool))
    listed = subprocess.run([args.program, "--backends"], capture_output=True, text=True)
    if listed.returncode != 0 or "ref" not in listed.stdout.split():
        print(f"gpt2.py: {args.program} --backends did not list ref:\n{listed.stderr}")
        return 1
    backends = args.backend or listed.stdout.split()
    print(f"GPT-2 exactness: seed {args.seed}, vocabulary {VOCAB}, {POSITIONS} positions "
          f"(lm_ctx {CTX}), width {WIDTH} x {LAYERS} layers, {HEADS} heads, B {BATCH} x T {T} "
          f"with real rows {VALID_SPANS}; backends {', '.join(backends)}")
    ok, ref_got = True, None
    try:
        want = gpt2_logits(gpt2, ids, valid)
        for backend in backends if not args.self_test else []:
            got = run_program(args.program, backend, files, work)
            ref_got = got if backend == "ref" else ref_got
            err, rel, frac = compare(got, want, valid)
            ok &= frac <= 1
            print(f"  {backend:<9} logits max|err| {err:.2e} = {rel:.2e} of max|want|, tol "
                  f"{RTOL:.0e}: {frac:5.3f} of tol  {'ok' if frac <= 1 else 'FAIL'}")
        if not args.no_self_test:
            if ref_got is None:
                ref_got = run_program(args.program, "ref", files, work)
            ok &= self_test(gpt2, ids, valid, ref_got)
    except RuntimeError as e:                      # the program failed: its message, no trace
        print(f"FAIL: {e}")
        ok = False
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"GPT-2 exactness: {'pass' if ok else 'FAIL'} ({time.time() - t0:.1f} s, "
          f"torch {torch.__version__})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
