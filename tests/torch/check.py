#!/usr/bin/python3
"""The independent PyTorch cross-check of the golden model cases (issue 7, part 4).

For each golden/models/*.safetensors: rebuild the case's model in PyTorch (tests/torch/model.py,
written from the method (docs/model.md), not from our C), load its inputs and initial parameters, run the forward
with autograd in fp32 and in fp64, and compare every activation, the logits, the loss and every
gradient the file holds; then take the file's K AdamW steps with torch.optim.AdamW (decay only
on the tensors the file flags, global-norm clipping as ref/adamw.h specifies) and compare the
per-step losses and the parameters after K steps. Cases of kind v2t (the video-to-text stage,
and its LM alone) are rebuilt with tests/torch/v2t.py (written from the Flamingo / OpenFlamingo
papers, not from our C) the same way, plus their greedy decode (the ids exactly).

Each tensor is reported as its max abs error, its max error relative to the tensor's largest
entry, and that error as a fraction of its tolerance, in both precisions; the fp64 run is the
oracle (it carries no rounding of its own at these levels), the fp32 run shows what an ordinary
fp32 implementation gets. The tolerances and their reasons are in TOLERANCES below (and
TOLERANCES.md). With --kernels, golden/kernels/* are checked too, each kernel one torch
expression (kernels.py). Exit status 1 on any failure, 2 when no case was found.

  /usr/bin/python3 tests/torch/check.py [--golden DIR] [--kernels] [--quiet] [--log FILE]
                                        [FILE...]
"""
import argparse
import glob
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch

sys.dont_write_bytecode = True                     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M                                  # noqa: E402
import v2t as V                                    # noqa: E402
import safetensors_io as st                        # noqa: E402

# ---- tolerances --------------------------------------------------------------------------------
# A tensor passes when max_i |got_i - want_i| <= rtol * max_i |want_i| (+ 1e-30 for all-zero
# tensors): the error is measured in units of the tensor's largest entry. Entries that are small
# by cancellation (gradients above all) carry the same absolute rounding error as the large ones,
# so an elementwise relative test would measure cancellation, not correctness. The same rtol is
# applied to the fp32 and the fp64 torch runs: in both, the difference is dominated by the fp32
# rounding of the C reference (its sums are in double, its stored results in fp32), and the fp32
# torch run adds its own fp32 sums of the same size. Reasons in full: TOLERANCES.md.
TOLERANCES = {
    # class: (rtol, reason); "worst" = the largest error measured on the golden cases and on 13
    # cases of our own (fp32 torch vs C; the fp64 run is 2-10x closer), see TOLERANCES.md
    "act.tokens": (2e-6, "one linear map of a voxel (<= 768 products): C sums in double and rounds "
                         "once, torch fp32 sums in fp32 (~sqrt(n) eps); worst 4.6e-7"),
    "act.embedded": (2e-6, "tokens + two table entries: one or two more fp32 roundings; worst "
                           "4.4e-7"),
    "act.ln_pre": (2e-6, "LayerNorm of the embedded tokens: input error over its std plus the "
                         "statistics' roundings; worst 4e-7"),
    "act.block": (5e-6, "pre-LN blocks (LayerNorm, attention, erf-GELU MLP): ~10 fp32 roundings "
                        "per block compounded, amplified by LayerNorm's 1/std; worst 6e-7"),
    "act.emb": (3e-6, "the residual stream's error through final LN, mean pool, projection, L2 "
                      "normalisation; worst 6e-7 (tanh-GELU instead of erf-GELU gives 5e-6)"),
    "act.logits": (3e-6, "embedding errors times exp(s) = 14.3 on logits up to ~14; worst 8e-7"),
    "loss": (3e-6, "log-sum-exps of the logits, errors ~1e-6 relative on a loss of ~1-3; worst "
                   "8e-7"),
    "grad": (5e-5, "issue 7 asks 1e-4 relative in FP32; every backward kernel's fp32 rounding "
                   "compounded through the towers, worst on bias and LayerNorm sums over all "
                   "rows (1.9e-5), so 5e-5 holds with a 2.6x margin"),
    "steps.loss": (1e-4, "after step 0 the parameters carry the after.* differences (entries "
                         "with near-zero gradients move by Adam-amplified noise, up to ~lr); "
                         "worst 3.1e-5"),
    "steps.grad_norm": (1e-4, "the global gradient norm before clipping of each step: a sum of "
                              "squares of gradients each within the grad tolerance; after step 0 "
                              "the parameters also differ as for steps.loss; worst 3e-5"),
    "v2t.visual": (2e-6, "video-to-text: the frozen encoder's final-LayerNorm tokens (the act.block "
                         "roundings) averaged over time per spatial position; worst 2.1e-7"),
    "v2t.media": (3e-6, "video-to-text: the visual errors through the resampler's LayerNorms, "
                        "attention over [visual; latents], feed-forwards and final LayerNorm; "
                        "worst 1.5e-7"),
    "v2t.logits": (3e-6, "video-to-text: the LM's blocks and gated cross-attention layers, final "
                         "LayerNorm, tied embedding, ~10 fp32 roundings per layer on O(1) logits; "
                         "worst 4.1e-7 (the LM alone)"),
    "decode": (0.0, "greedy decoding: token ids, each the argmax of logits whose two largest "
                    "differ by >= 0.016 in these cases (reported), 10^4 x the logits' errors: "
                    "the same ids exactly"),
    "after": (1e-3, "per entry lr * (K * 1e-3 + Adam's amplification of the gradient tolerance, "
                    "at most 4 K) + K fp32 roundings of the parameter: see after_tolerance(); "
                    "'rel' is in units of the tensor's largest change over the K steps"),
}
# The gradient error (in units of each tensor's largest gradient) the trajectory tolerance
# assumes: the gradient tolerance itself, so "every gradient within its tolerance" implies
# "every parameter after K steps within its tolerance" (up to the trajectory's own drift).
ADAM_GRAD_NOISE = TOLERANCES["grad"][0]


def tolerance_class(name, kind="model"):
    if kind == "v2t" and name.startswith("act."):
        return "v2t." + name[len("act."):]
    for prefix in ("act.tokens", "act.embedded", "act.ln_pre", "act.block", "act.logits",
                   "steps.loss", "steps.grad_norm"):
        if name.startswith(prefix):
            return prefix
    if name in ("act.video_emb", "act.text_emb"):
        return "act.emb"
    if name == "loss":
        return "loss"
    if name.startswith("grad."):
        return "grad"
    if name.startswith("after."):
        return "after"
    raise KeyError(name)


def compare(got, want, rtol, scale=None, tol=None):
    """(max abs err, max err / scale, fraction of the tolerance). scale = max|want| by default;
    the tolerance is rtol * scale, or the elementwise array tol when given."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        got = got.reshape(want.shape)
    if not np.all(np.isfinite(got)):
        return math.inf, math.inf, math.inf
    if want.size == 0:
        return 0.0, 0.0, 0.0
    err = np.abs(got - want)
    if scale is None:
        scale = float(np.max(np.abs(want)))
    worst = float(np.max(err))
    rel = worst / scale if scale > 0 else (0.0 if worst == 0 else math.inf)
    if tol is None:
        return worst, rel, worst / (rtol * scale + 1e-30)
    return worst, rel, float(np.max(err / (tol + 1e-30)))


# ---- metadata ----------------------------------------------------------------------------------

def meta_get(meta, *keys, default=None):
    """Looks a key up in the metadata, also inside an "adamw" object (JSON or key=value lines)
    and with an "adamw." / "adamw_" prefix, so small spelling choices of the writer pass."""
    nested = {}
    for k in ("adamw", "optimizer", "optim"):
        if k in meta:
            text = meta[k]
            try:
                obj = json.loads(text)
                if isinstance(obj, dict):
                    nested.update({str(a): b for a, b in obj.items()})
                    continue
            except ValueError:
                pass
            for line in re.split(r"[\n;]", text):
                if "=" in line:
                    a, b = line.split("=", 1)
                    nested[a.strip()] = b.strip()
    for key in keys:
        for cand in (key, "adamw." + key, "adamw_" + key, "optimizer." + key):
            if cand in meta:
                return meta[cand]
        if key in nested:
            return nested[key]
    return default


def numbers(text):
    if isinstance(text, (int, float)):
        return [float(text)]
    if isinstance(text, (list, tuple)):
        return [float(x) for x in text]
    return [float(x) for x in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", str(text))]


def names_list(text):
    if isinstance(text, (list, tuple)):
        return [str(x) for x in text]
    text = str(text).strip()
    if text.startswith("["):
        return [str(x) for x in json.loads(text)]
    return [x for x in re.split(r"[\s,]+", text) if x]


def adamw_settings(meta, trainable, shapes):
    s = {}
    s["lr"] = numbers(meta_get(meta, "lr", "learning_rate"))[0]
    betas = meta_get(meta, "betas")
    if betas is not None:
        s["beta1"], s["beta2"] = numbers(betas)[:2]
    else:
        s["beta1"] = numbers(meta_get(meta, "beta1", default=0.9))[0]
        s["beta2"] = numbers(meta_get(meta, "beta2", default=0.999))[0]
    s["eps"] = numbers(meta_get(meta, "eps", default=1e-8))[0]
    s["weight_decay"] = numbers(meta_get(meta, "weight_decay", "wd"))[0]
    s["clip"] = numbers(meta_get(meta, "clip", "grad_clip", "clip_norm", default=0.0))[0]
    decay = meta_get(meta, "decay", "decay_tensors", "weight_decay_tensors", "decayed")
    if decay is None:
        raise KeyError("no list of decayed tensors in the metadata (keys: %s)" % sorted(meta))
    decay = [n[len("param."):] if n.startswith("param.") else n for n in names_list(decay)]
    s["decay"] = set(decay)
    s["steps"] = int(numbers(meta_get(meta, "steps", "K"))[0])
    return s


# ---- one case ----------------------------------------------------------------------------------

class Report:
    """Per-tensor rows go to stdout (unless quiet) and to the log file (when given); failures
    always reach stdout; the summary goes to both."""

    def __init__(self, quiet, log=None):
        self.quiet = quiet
        self.log = log
        self.failures = []
        self.notes = []
        self.worst = {}            # (case, precision, class) -> (frac, tensor)

    def detail(self, line, always=False):
        if self.log:
            self.log.write(line + "\n")
        if always or not self.quiet:
            print(line)

    def summary(self, line):
        if self.log:
            self.log.write(line + "\n")
        print(line)

    def row(self, case, name, res32, res64, cls):
        rtol = TOLERANCES[cls][0]
        ok = res32[2] <= 1.0 and res64[2] <= 1.0
        for prec, res in (("fp32", res32), ("fp64", res64)):
            key = (case, prec, cls)
            if key not in self.worst or res[2] > self.worst[key][0]:
                self.worst[key] = (res[2], name, res[0], res[1])
        if not ok:
            self.failures.append(f"{case}: {name}: fp32 {res32[2]:.3g}, fp64 {res64[2]:.3g} "
                                 f"of tolerance (rtol {rtol:g})")
        self.detail(f"  {name:<46} {res32[0]:9.2e} {res32[1]:9.2e} {res32[2]:6.3f}   "
                    f"{res64[0]:9.2e} {res64[1]:9.2e} {res64[2]:6.3f}  {rtol:7.0e} "
                    f"{'ok' if ok else 'FAIL'}", always=not ok)

    def fail(self, case, text):
        self.failures.append(f"{case}: {text}")
        self.detail(f"  FAIL {text}", always=True)

    def note(self, case, text):
        self.notes.append(f"{case}: {text}")
        self.detail(f"  note: {text}")


def to_t(a, dtype):
    """A fresh tensor (never a view of the file's array: the optimiser updates in place)."""
    return torch.tensor(np.asarray(a), dtype=dtype)


def check_inputs(case, cfg, kept, rep):
    """Independent checks of the kept-token lists against the masking rule of docs/model.md (counts, ascending, tube
    masking's shared positions): they need no Philox stream."""
    toks = M.tokenizers(cfg)
    N = sum(t.N for t in toks)
    r = cfg.get("mask_ratio", 0.0)
    B, K = kept.shape
    if r == 0:
        if K != N or not np.array_equal(kept, np.tile(np.arange(N), (B, 1))):
            rep.fail(case, f"unmasked case: input.kept is not every token 0..{N - 1}")
        return
    half_up = lambda x: int(math.floor(x + 0.5))
    if cfg.get("mask") == "tube":
        P, Ft = toks[0].P, toks[0].Ft
        want_k = max(1, half_up((1 - r) * P)) * Ft
    else:
        want_k = max(1, half_up((1 - r) * N))
    if K != want_k:
        rep.fail(case, f"kept count {K}, the masking rule gives {want_k} (ratio {r}, N {N})")
    for b in range(B):
        k = kept[b]
        if np.any(np.diff(k) <= 0) or k.min() < 0 or k.max() >= N:
            rep.fail(case, f"sample {b}: kept tokens not strictly ascending in [0, {N})")
        if cfg.get("mask") == "tube":
            P = toks[0].P
            pos = k.reshape(toks[0].Ft, -1) % P
            if not np.all(pos == pos[0]) or not np.all(k.reshape(toks[0].Ft, -1) // P ==
                                                       np.arange(toks[0].Ft)[:, None]):
                rep.fail(case, f"sample {b}: tube masking does not keep the same positions in "
                               f"every time step")


def run_forward(params, cfg, inputs, dtype, trainable, kept):
    p = {n: to_t(a, dtype).requires_grad_(n in trainable) for n, a in params.items()}
    video = to_t(inputs["video"], dtype)
    loss, acts = M.forward(p, cfg, video, inputs["text"], inputs["valid"], kept)
    loss.backward()
    # a trainable tensor the graph does not use (the 2D patch kernel of a video batch) has an
    # exactly zero gradient
    grads = {n: (p[n].grad if p[n].grad is not None else torch.zeros_like(p[n]))
             for n in trainable}
    return p, acts, grads


def clip_(grads, clip):
    """ref/adamw.h: the global norm sqrt(sum g^2) (accumulated in double); when norm > clip > 0,
    every gradient times clip / norm (torch's clip_grad_norm_ uses clip / (norm + 1e-6))."""
    norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    if clip > 0 and math.isfinite(norm) and norm > clip:
        for g in grads:
            g.mul_(clip / norm)
    return norm


def run_trajectory(params, cfg, inputs, dtype, trainable, settings, kept_per_step, forward=None):
    """settings["steps"] AdamW steps (torch.optim.AdamW); forward(p, video, kept) -> (loss, acts)
    is the graph (default: model.py's contrastive model on inputs' text)."""
    if forward is None:
        forward = lambda p, video, kept: M.forward(p, cfg, video, inputs["text"],
                                                   inputs["valid"], kept)
    p = {n: to_t(a, dtype).requires_grad_(n in trainable) for n, a in params.items()}
    decay = [p[n] for n in sorted(trainable) if n in settings["decay"]]
    rest = [p[n] for n in sorted(trainable) if n not in settings["decay"]]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings["weight_decay"]},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=settings["lr"], betas=(settings["beta1"], settings["beta2"]),
                            eps=settings["eps"], foreach=False)
    video = None if inputs.get("video") is None else to_t(inputs["video"], dtype)
    losses, norms, step_grads = [], [], {n: [] for n in trainable}
    for s in range(settings["steps"]):
        opt.zero_grad(set_to_none=False)
        loss, _ = forward(p, video, kept_per_step[s])
        loss.backward()
        losses.append(float(loss))
        for n in trainable:
            # a trainable tensor the graph does not use still gets its (zero-gradient) AdamW
            # step, weight decay included; torch skips tensors whose grad is None
            if p[n].grad is None:
                p[n].grad = torch.zeros_like(p[n])
        norms.append(clip_([p[n].grad for n in sorted(trainable)], settings["clip"]))
        for n in trainable:
            step_grads[n].append(p[n].grad.detach().double().numpy().copy())
        opt.step()
    return np.array(losses), np.array(norms), {n: p[n].detach() for n in trainable}, step_grads


def after_tolerance(settings, init, want, grads):
    """The elementwise tolerance of a parameter after K AdamW steps, and how many entries the
    gradient-noise term widens and how many it caps (see TOLERANCES["after"] and TOLERANCES.md):
      lr * (K * rtol  +  min(gamma * sum_s max|g_s| / |g_s,i|,  4 K))  +  K 2^-22 |p_i|
    Adam divides each entry's first moment by the root of its second, so a gradient error of
    gamma * max|g| (the gradient tolerance actually met) moves entry i by up to
    lr * gamma * max|g| / |g_i| per step; where that exceeds Adam's own step bound (~lr per
    step, 4 lr as a margin) the entry is only held to that bound. The last term is one fp32
    rounding of the parameter per step in C and up to three in torch."""
    lr, K = settings["lr"], settings["steps"]
    rtol, gamma = TOLERANCES["after"][0], ADAM_GRAD_NOISE
    sens = np.zeros(want.shape)
    for g in grads:
        g = np.abs(g.reshape(want.shape))
        gmax = float(g.max()) if g.size else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            # a gradient that is zero in one implementation may be rounding noise in the other
            # (a key bias: softmax ignores a shift, so its true gradient is 0 and C's is ~1e-9):
            # Adam turns either into a full +-lr step, so zero is the most sensitive entry
            sens += np.where(g > 0, gmax / np.maximum(g, 1e-300), np.inf)
    noise = np.minimum(gamma * sens, 4.0 * K)
    tol = lr * (K * rtol + noise) + K * 2.0 ** -22 * np.abs(want)
    return tol, (int(np.count_nonzero(noise > K * rtol)), int(np.count_nonzero(noise >= 4.0 * K)))


def check_case(path, rep):
    tensors, meta = st.load(path)
    case = meta.get("case", os.path.splitext(os.path.basename(path))[0])
    if meta.get("kind") == "v2t":
        return check_v2t_case(path, case, tensors, meta, rep)
    if meta.get("kind", "model") != "model":
        rep.note(case, f"kind={meta.get('kind')}: not a model case, skipped")
        return
    cfg = M.parse_config(meta["config"])
    rep.detail(f"{case}: attn={cfg['attn']} tubes={cfg.get('tubes')} mask={cfg.get('mask')}:"
          f"{cfg.get('mask_ratio')} tune={cfg['tune']} freeze_text={cfg.get('freeze_text')} "
          f"pool={cfg.get('frame_pool')} ({os.path.basename(path)})")
    params = {n[len("param."):]: a for n, a in tensors.items() if n.startswith("param.")}
    trainable = {n[len("grad."):] for n in tensors if n.startswith("grad.")}
    shapes = {n: a.shape for n, a in params.items()}

    # what trains: the file (its grad.* tensors) against our reading of docs/model.md
    mine = M.expected_trainable(cfg, params)
    if mine != trainable:
        rep.fail(case, "trainable set differs from docs/model.md: file only %s; ours only %s"
                 % (sorted(trainable - mine), sorted(mine - trainable)))
    kept = tensors["input.kept"].astype(np.int64)
    check_inputs(case, cfg, kept, rep)
    inputs = {
        "video": tensors["input.video"].astype(np.float32),
        "text": torch.from_numpy(tensors["input.text"].astype(np.int64)),
        "valid": torch.from_numpy(tensors["input.text_valid"].astype(np.int64) != 0),
    }
    kept_t = torch.from_numpy(kept)

    _, a32, g32 = run_forward(params, cfg, inputs, torch.float32, trainable, kept_t)
    _, a64, g64 = run_forward(params, cfg, inputs, torch.float64, trainable, kept_t)
    rep.detail(f"  {'tensor':<46} {'fp32 abs':>9} {'rel':>9} {'frac':>6}   {'fp64 abs':>9} "
          f"{'rel':>9} {'frac':>6}  {'rtol':>7}")
    order = [n for n in tensors if n.startswith("act.") or n == "loss"]
    for n in order:
        if n not in a32:
            rep.fail(case, f"{n}: the torch model has no such activation")
            continue
        cls = tolerance_class(n)
        rtol = TOLERANCES[cls][0]
        rep.row(case, n, compare(a32[n].detach(), tensors[n], rtol),
                compare(a64[n].detach(), tensors[n], rtol), cls)
    for n in sorted(trainable):
        want = tensors["grad." + n]
        rtol = TOLERANCES["grad"][0]
        rep.row(case, "grad." + n, compare(g32[n], want, rtol), compare(g64[n], want, rtol),
                "grad")

    # the K-step AdamW trajectory
    if "steps.loss" not in tensors:
        rep.note(case, "no steps.loss: trajectory not checked")
        return
    try:
        settings = adamw_settings(meta, trainable, shapes)
    except (KeyError, IndexError, TypeError, ValueError) as e:
        rep.fail(case, f"AdamW settings unreadable from the metadata: {e}")
        return
    bad = sorted(n for n in settings["decay"] & trainable if not M.expected_decay(n, shapes[n]))
    missing = sorted(n for n in trainable - settings["decay"] if M.expected_decay(n, shapes[n]))
    if bad:
        rep.fail(case, f"weight decay on tensors docs/model.md excludes: {bad}")
    if missing:
        rep.note(case, f"2D weight matrices without weight decay: {missing}")
    K = settings["steps"]
    masked = cfg.get("mask_ratio", 0.0) > 0
    if masked and "steps.kept" not in tensors:
        rep.note(case, f"masked case without steps.kept: the masks of steps 1..{K - 1} come from "
                       f"Philox streams we do not recompute; trajectory skipped (step 0 checked)")
        # step 0 uses input.kept: its loss and gradient norm are still checked
        rtol = TOLERANCES["steps.loss"][0]
        rep.row(case, "steps.loss[0]", compare([float(a32["loss"])], tensors["steps.loss"][:1],
                                               rtol),
                compare([float(a64["loss"])], tensors["steps.loss"][:1], rtol), "steps.loss")
        if "steps.grad_norm" in tensors:
            rtol = TOLERANCES["steps.grad_norm"][0]
            norm = lambda g: [math.sqrt(sum(float((x.double() ** 2).sum()) for x in g.values()))]
            rep.row(case, "steps.grad_norm[0]",
                    compare(norm(g32), tensors["steps.grad_norm"][:1], rtol),
                    compare(norm(g64), tensors["steps.grad_norm"][:1], rtol), "steps.grad_norm")
        return
    if masked:
        sk = tensors["steps.kept"].astype(np.int64)
        if not np.array_equal(sk[0], kept):
            rep.fail(case, "steps.kept[0] differs from input.kept")
        kept_steps = [torch.from_numpy(sk[s]) for s in range(K)]
        for s in range(K):
            check_inputs(case, cfg, sk[s], rep)
    else:
        kept_steps = [kept_t] * K
    check_trajectory(case, rep, tensors, params, trainable, settings,
                     lambda dtype: run_trajectory(params, cfg, inputs, dtype, trainable, settings,
                                                  kept_steps))


def check_trajectory(case, rep, tensors, params, trainable, settings, trajectory):
    """The K-step AdamW trajectory (trajectory(dtype) -> losses, norms, parameters after, step
    gradients) against the file's steps.loss, steps.grad_norm and after.* in fp32 and fp64."""
    l32, n32, p32, _ = trajectory(torch.float32)
    l64, n64, p64, gs = trajectory(torch.float64)
    want = tensors["steps.loss"]
    rtol = TOLERANCES["steps.loss"][0]
    rep.row(case, "steps.loss", compare(l32, want, rtol), compare(l64, want, rtol), "steps.loss")
    if "steps.grad_norm" in tensors:
        want = tensors["steps.grad_norm"]
        rtol = TOLERANCES["steps.grad_norm"][0]
        rep.row(case, "steps.grad_norm", compare(n32, want, rtol), compare(n64, want, rtol),
                "steps.grad_norm")
    rtol = TOLERANCES["after"][0]
    widened, total = [0, 0], 0
    for n in sorted(trainable):
        want = tensors["after." + n].astype(np.float64)
        init = params[n].astype(np.float64)
        moved = float(np.max(np.abs(want - init)))
        # the sensitivities from the golden file's own step gradients where it has them (C's
        # rounding noise on a true zero is visible there), else from ours
        steps_grad = tensors.get("steps.grad." + n)
        tol, w = after_tolerance(settings, init, want,
                                 list(steps_grad) if steps_grad is not None else gs[n])
        widened, total = [a + b for a, b in zip(widened, w)], total + want.size
        rep.row(case, "after." + n, compare(p32[n], want, rtol, scale=moved, tol=tol),
                compare(p64[n], want, rtol, scale=moved, tol=tol), "after")
    rep.detail(f"  after.*: of {total} entries, {widened[0]} have a tolerance widened by Adam's "
               f"amplification of gradient noise (gradient < ~1/300 of the tensor's largest) and "
               f"{widened[1]} are held only to Adam's step bound (gradient near rounding noise)")


# ---- the video-to-text stage (kind v2t) ---------------------------------------------------------

def v2t_expected_trainable(names, lm_only):
    """docs/video-to-text.md: only the resampler and the cross-attention layers train (the
    encoder and the LM frozen); with lm_only the LM trains, all of it."""
    return {n for n in names if (n.startswith("lm.") if lm_only
                                 else n.startswith(("resampler.", "xattn.")))}


def check_v2t_case(path, case, tensors, meta, rep):
    """A video-to-text case with tests/torch/v2t.py: activations, loss and gradients of step 0,
    the greedy decode, the K-step AdamW trajectory, in fp32 and fp64."""
    cfg = M.parse_config(meta["config"])
    lm_only = int(meta["lm_only"]) != 0
    rep.detail(f"{case}: video-to-text {'LM alone' if lm_only else 'stage'}, lm {cfg['lm_width']}"
               f" x {cfg['lm_layers']}, resampler {cfg['rs_latents']} x {cfg['rs_depth']}, "
               f"v2t_mask_ratio {cfg['v2t_mask_ratio']} ({os.path.basename(path)})")
    params = {n[len("param."):]: a for n, a in tensors.items() if n.startswith("param.")}
    trainable = {n[len("grad."):] for n in tensors if n.startswith("grad.")}
    shapes = {n: a.shape for n, a in params.items()}
    mine = v2t_expected_trainable(params, lm_only)
    if mine != trainable:
        rep.fail(case, "trainable set differs from docs/video-to-text.md: file only %s; ours "
                 "only %s" % (sorted(trainable - mine), sorted(mine - trainable)))
    enc_cfg = dict(cfg, mask_ratio=cfg["v2t_mask_ratio"], mask="random")
    inputs = {"video": None if lm_only else tensors["input.video"].astype(np.float32)}
    ids = torch.from_numpy(tensors["input.ids"].astype(np.int64))
    targets = torch.from_numpy(tensors["input.targets"].astype(np.int64))
    valid = torch.from_numpy(tensors["input.valid"] != 0)
    settings = adamw_settings(meta, trainable, shapes)
    K = settings["steps"]
    kept, kept_steps = None, [None] * K
    if not lm_only:
        kept = tensors["input.kept"].astype(np.int64)
        check_inputs(case, enc_cfg, kept, rep)
        sk = tensors["steps.kept"].astype(np.int64)
        if not np.array_equal(sk[0], kept):
            rep.fail(case, "steps.kept[0] differs from input.kept")
        for s in range(K):
            check_inputs(case, enc_cfg, sk[s], rep)
        kept_steps = [torch.from_numpy(sk[s]) for s in range(K)]
        kept = torch.from_numpy(kept)

    def forward(p, video, kept_s):
        return V.forward(p, cfg, video, ids, targets, valid, kept_s, lm_only=lm_only)

    res = {}
    for dtype in (torch.float32, torch.float64):
        p = {n: to_t(a, dtype).requires_grad_(n in trainable) for n, a in params.items()}
        video = None if lm_only else to_t(inputs["video"], dtype)
        loss, acts = forward(p, video, kept)
        loss.backward()
        grads = {n: p[n].grad if p[n].grad is not None else torch.zeros_like(p[n])
                 for n in trainable}
        n_prompt, n_new = int(meta["decode.prompt"]), int(meta["decode.new"])
        media = None
        if not lm_only:
            with torch.no_grad():
                media = V.media_of(p, cfg, video[:1], kept[:1])
        decoded, gaps = V.greedy_decode(p, cfg, ids[0, :n_prompt], n_new, media)
        res[dtype] = acts, grads, decoded, gaps
    (a32, g32, d32, gap32), (a64, g64, d64, gap64) = res[torch.float32], res[torch.float64]
    rep.detail(f"  {'tensor':<46} {'fp32 abs':>9} {'rel':>9} {'frac':>6}   {'fp64 abs':>9} "
               f"{'rel':>9} {'frac':>6}  {'rtol':>7}")
    for n in [n for n in tensors if n.startswith("act.") or n == "loss"]:
        if n not in a32:
            rep.fail(case, f"{n}: the torch model has no such activation")
            continue
        cls = tolerance_class(n, "v2t")
        rtol = TOLERANCES[cls][0]
        rep.row(case, n, compare(a32[n].detach(), tensors[n], rtol),
                compare(a64[n].detach(), tensors[n], rtol), cls)
    for n in sorted(trainable):
        want = tensors["grad." + n]
        rtol = TOLERANCES["grad"][0]
        rep.row(case, "grad." + n, compare(g32[n], want, rtol), compare(g64[n], want, rtol),
                "grad")
    want = tensors["decode.ids"].astype(np.int64)
    rep.row(case, "decode.ids", compare(d32, want, 0.0), compare(d64, want, 0.0), "decode")
    rep.detail(f"  decode.ids {list(want)}: smallest gap between the two largest logits "
               f"{min(gap64):.3g} (fp64)")
    check_trajectory(case, rep, tensors, params, trainable, settings,
                     lambda dtype: run_trajectory(params, cfg, inputs, dtype, trainable,
                                                  settings, kept_steps, forward))


# ---- kernels (optional) ------------------------------------------------------------------------

def check_kernels(paths, rep):
    import kernels as Kn
    TOLERANCES["kernel"] = (Kn.KERNEL_RTOL, Kn.KERNEL_REASON)
    if not paths:
        rep.fail("kernels", "--kernels: no golden kernel cases found")
    for path in paths:
        try:
            Kn.check_file(path, rep, compare)
        except Exception as e:                      # a broken case is a failure, not a crash
            rep.fail(os.path.basename(path), f"{type(e).__name__}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--golden", default=os.path.join(here, "..", "..", "golden"))
    ap.add_argument("--kernels", action="store_true", help="also check golden/kernels/*")
    ap.add_argument("--quiet", action="store_true", help="print only failures and the summary")
    ap.add_argument("--log", help="write the full per-tensor table to this file")
    ap.add_argument("files", nargs="*", help="model cases (default: GOLDEN/models/*)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(0)
    files = args.files or sorted(glob.glob(os.path.join(args.golden, "models", "*.safetensors")))
    if not files:
        print(f"no golden model cases under {args.golden}/models")
        return 2
    log = open(args.log, "w") if args.log else None
    rep = Report(args.quiet, log)
    t0 = time.time()
    for path in files:
        try:
            check_case(path, rep)
        except Exception as e:                      # a broken case is a failure, not a crash
            rep.fail(os.path.basename(path), f"{type(e).__name__}: {e}")
    kfiles = []
    if args.kernels:
        kfiles = sorted(glob.glob(os.path.join(args.golden, "kernels", "*.safetensors")))
        check_kernels(kfiles, rep)

    rep.summary("\nworst tensor per case and class (fraction of tolerance: fp32 / fp64)")
    cases = sorted({k[0] for k in rep.worst if k[2] != "kernel"})
    kcases = {k[0] for k in rep.worst if k[2] == "kernel"}
    if kcases:
        w32 = max((rep.worst[(c, "fp32", "kernel")] + (c,) for c in kcases), key=lambda w: w[0])
        w64 = max((rep.worst[(c, "fp64", "kernel")] + (c,) for c in kcases), key=lambda w: w[0])
        rep.summary(f"  {len(kcases)} kernel cases: worst {w32[0]:.2f} ({w32[4]} {w32[1]}) / "
                    f"{w64[0]:.2f} ({w64[4]} {w64[1]})")
    for case in cases:
        parts = []
        for cls in TOLERANCES:
            w32 = rep.worst.get((case, "fp32", cls))
            w64 = rep.worst.get((case, "fp64", cls))
            if w32 and w64:
                parts.append(f"{cls} {w32[0]:.2f}/{w64[0]:.2f}")
        rep.summary(f"  {case:<14} " + ", ".join(parts))
    for n in rep.notes:
        rep.summary(f"note: {n}")
    if rep.failures:
        rep.summary(f"\n{len(rep.failures)} failure(s):")
        for f in rep.failures:
            rep.summary(f"  {f}")
        return 1
    kernels = f" and {len(kfiles)} kernel case(s)" if kfiles else ""
    rep.summary(f"\ntorch cross-check: {len(files)} model case(s){kernels} pass "
                f"({time.time() - t0:.1f} s, torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
