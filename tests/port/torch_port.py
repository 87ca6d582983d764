#!/usr/bin/python3
"""A PyTorch port of LongViViT that writes its results as golden-shaped safetensors files.

  /usr/bin/python3 tests/port/torch_port.py --golden GOLDEN_DIR --out PORT_DIR
                                            [--mutant NAME] [--cases GLOB[,GLOB...]]

For every case file GOLDEN_DIR/{kernels,models}/*.safetensors it reads only the inputs
(in.*, param.*, dout.*, input.video/text/text_valid/ids/targets/valid, the host-drawn masks input.kept and
steps.kept) and the metadata (kernel scalars, config, steps, adamw.*), runs its own fp32
computation and writes PORT_DIR/<kind>/<name>.safetensors holding every output tensor of the
golden file under the golden's name and shape (F32; the kept lists copied as I64). The golden
outputs are never read except for their names and shapes. Then
`longvivit golden --compare GOLDEN_DIR PORT_DIR --port` grades it.

The maths comes from tests/torch (model.py's forward, kernels.py's kernel expressions, imported,
never copied); the AdamW trajectory is written out here (not torch.optim.AdamW) so that
tests/mutants/ can inject optimiser mistakes: every piece a mutant may replace is a module-level
name looked up at call time (KERNELS, layer_norm_stats, global_norm, clip_gradients, decays,
bias_corrections, adamw_entry, zero_grads, ..., and model.py's gelu, quick_gelu and gelu_tanh).
--mutant NAME applies tests/mutants/catalogue.py's mutant NAME to this process before anything
runs.

Exit status: 0 every selected case written; 1 a case failed to run (the others are written);
2 bad arguments or no case.
"""
import argparse
import fnmatch
import glob
import math
import os
import sys
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "torch"))
sys.path.insert(0, HERE)

import numpy as np                                  # noqa: E402
import torch                                        # noqa: E402

import model as M                                   # noqa: E402  (tests/torch/model.py)
import v2t as V                                     # noqa: E402  (tests/torch/v2t.py)
import kernels as Kn                                # noqa: E402  (tests/torch/kernels.py)
import safetensors_io as st                         # noqa: E402  (tests/torch/safetensors_io.py)
import st_write                                     # noqa: E402

DTYPE = torch.float32
INPUT_PREFIXES = ("in.", "param.", "dout.", "input.")
COPIED = ("input.kept", "steps.kept")               # host-drawn masks: copied unchanged


# ---- kernels -----------------------------------------------------------------------------------

def layer_norm_stats(x, eps):
    """LayerNorm's per-row mean and rstd = 1 / sqrt(biased variance + eps)."""
    mean = x.mean(-1)
    var = ((x - mean[..., None]) ** 2).mean(-1)
    return mean, 1.0 / torch.sqrt(var + eps)


def _k_layernorm(t, meta):
    x, eps = t["in.inp"], float(meta["eps"])
    out = M.layer_norm({"k.weight": t["param.weight"], "k.bias": t["param.bias"]}, "k", x, eps)
    mean, rstd = layer_norm_stats(x, eps)
    return {"out.out": out, "out.mean": mean, "out.rstd": rstd}


def _k_gelu(t, meta):
    return {"out.out": M.gelu(t["in.inp"])}


def _k_pos_embed(t, meta):
    """out = (inp + spatial[n % P]) + temporal[n // P], n = kept[b, k] (or k): the adds in the
    reference's order, since the golden rows are bit-exact (kernels.py adds spatial + temporal
    first)."""
    x, sp, tp = t["in.inp"], t["param.spatial"], t.get("param.temporal")
    B, K, _ = x.shape
    P = sp.shape[0]
    kept = t.get("in.kept")
    n = kept if kept is not None else torch.arange(K)[None].expand(B, K)
    out = x + sp[n % P]
    if tp is not None:
        out = out + tp[n // P]
    return {"out.out": out}


def sum_squares(x):
    """The sum of squares in double (the gradient norm's)."""
    return float((x.double() ** 2).sum())


def _k_sum_squares(t, meta):
    return {"out.out": torch.tensor([sum_squares(t["in.x"])], dtype=DTYPE)}


def _k_adamw_update(t, meta):
    f = lambda k: float(meta[k])
    x, m, v = adamw_entry(t["in.x"].detach().clone(), t["in.g"].detach().clone(),
                          t["in.m"].detach().clone(), t["in.v"].detach().clone(), f("lr"),
                          f("keep"), f("beta1"), f("beta2"), f("eps"), f("bc1"), f("bc2"))
    return {"out.x": x, "out.m": m, "out.v": v}


# every kernel of tests/torch/kernels.py (the causal attention and the cross-entropy included,
# which mutants replace here), with the ones that have a model.py twin routed through
# it (so a mutant of model.py reaches the kernel case too) and AdamW through this port's update;
# QuickGELU's and GPT-2's GELU's kernel cases call model.py's quick_gelu and gelu_tanh at call
# time, as the model cases do
KERNELS = dict(Kn.KERNELS)
KERNELS.update({"layernorm": _k_layernorm, "gelu": _k_gelu, "sum_squares": _k_sum_squares,
                "adamw_update": _k_adamw_update, "pos_embed": _k_pos_embed})


def run_kernel(tensors, meta):
    """The outputs named out.* and the gradients named grad.* of the golden file (the backward
    pass is autograd's vector-Jacobian product with the file's dout.*), through this port's
    kernel table."""
    if meta.get("kernel") not in KERNELS:
        raise KeyError(f"kernel '{meta.get('kernel')}' not in this port")
    return Kn.run(tensors, meta, DTYPE, KERNELS)


# ---- the AdamW trajectory, by hand --------------------------------------------------------------

def adamw_settings(meta):
    """The adamw.* metadata: lr, beta1, beta2, eps, weight_decay, clip, decay (names), steps."""
    g = lambda k, d=None: meta.get("adamw." + k, d)
    s = {"lr": float(g("lr")), "beta1": float(g("beta1", 0.9)), "beta2": float(g("beta2", 0.999)),
         "eps": float(g("eps", 1e-8)), "weight_decay": float(g("weight_decay", 0.0)),
         "clip": float(g("clip", 0.0)), "steps": int(meta.get("steps", g("steps", 1)))}
    names = [n.strip() for n in g("decay", "").replace("\n", ",").split(",") if n.strip()]
    s["decay"] = {n[len("param."):] if n.startswith("param.") else n for n in names}
    return s


def zero_grads(p, trainable):
    for n in trainable:
        p[n].grad = None


def global_norm(grads):
    """The L2 norm of every trainable gradient together, accumulated in double."""
    return math.sqrt(sum(sum_squares(g) for g in grads.values()))


def clip_gradients(grads, norm, clip):
    """if norm > clip > 0: g = fp32(g * fp32(clip / norm)), in place."""
    if clip > 0 and math.isfinite(norm) and norm > clip:
        f = float(np.float32(clip / norm))
        for g in grads.values():
            g.mul_(f)


def decays(name, settings):
    return name in settings["decay"]


def bias_corrections(t, beta1, beta2):
    return 1.0 - beta1 ** t, 1.0 - beta2 ** t


def adamw_entry(x, g, m, v, lr, keep, beta1, beta2, eps, bc1, bc2):
    """One decoupled AdamW update of one tensor in fp32 (torch.optim.AdamW's order):
    x *= keep; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; x -= lr (m/bc1) / (sqrt(v/bc2) + eps).
    Returns the new (x, m, v)."""
    x = x * keep
    m = m * beta1 + (1.0 - beta1) * g
    v = v * beta2 + (1.0 - beta2) * g * g
    denom = torch.sqrt(v) / math.sqrt(bc2) + eps
    x = x - (lr / bc1) * (m / denom)
    return x, m, v


def adamw_step(p, grads, state, t, settings):
    """Per trainable tensor: the update of step t (1-based) with the (clipped) gradient."""
    bc1, bc2 = bias_corrections(t, settings["beta1"], settings["beta2"])
    for n, g in grads.items():
        m, v = state.setdefault(n, (torch.zeros_like(g), torch.zeros_like(g)))
        keep = 1.0 - settings["lr"] * settings["weight_decay"] if decays(n, settings) else 1.0
        with torch.no_grad():
            x, m, v = adamw_entry(p[n].detach(), g, m, v, settings["lr"], keep,
                                  settings["beta1"], settings["beta2"], settings["eps"], bc1, bc2)
            p[n].copy_(x)
        state[n] = (m, v)


def forward_backward(p, cfg, inputs, kept, trainable):
    """Forward and backward (gradients accumulate into .grad); returns loss, activations and the
    gradients (a trainable tensor the graph does not use gets zeros: our documented rule)."""
    loss, acts = M.forward(p, cfg, inputs["video"], inputs["text"], inputs["valid"], kept)
    loss.backward()
    grads = {n: (p[n].grad if p[n].grad is not None else torch.zeros_like(p[n]))
             for n in sorted(trainable)}
    return loss, acts, grads


def run_model(tensors, meta):
    cfg = M.parse_config(meta["config"])
    params = {n[len("param."):]: a for n, a in tensors.items() if n.startswith("param.")}
    trainable = sorted(n[len("grad."):] for n in tensors if n.startswith("grad."))
    inputs = {"video": torch.tensor(tensors["input.video"], dtype=DTYPE),
              "text": torch.from_numpy(tensors["input.text"].astype(np.int64)),
              "valid": torch.from_numpy(tensors["input.text_valid"].astype(np.int64) != 0)}
    kept0 = torch.from_numpy(tensors["input.kept"].astype(np.int64))
    settings = adamw_settings(meta)
    K = settings["steps"]
    if "steps.kept" in tensors:
        step_kept = [torch.from_numpy(a) for a in tensors["steps.kept"].astype(np.int64)]
    else:
        step_kept = [kept0] * K
    p = {n: torch.tensor(a, dtype=DTYPE).requires_grad_(n in trainable) for n, a in params.items()}
    res = {}
    losses, norms, raw = [], [], {n: [] for n in trainable}
    state = {}
    for s in range(K):
        zero_grads(p, trainable)
        loss, acts, grads = forward_backward(p, cfg, inputs, step_kept[s], trainable)
        if s == 0:
            if not torch.equal(step_kept[0], kept0):
                # step 0 by the README is input.kept; should a file differ, act/grad follow it
                zero_grads(p, trainable)
                _, acts, g0 = forward_backward(p, cfg, inputs, kept0, trainable)
                res.update({"grad." + n: g.detach().clone() for n, g in g0.items()})
                zero_grads(p, trainable)
                loss, _, grads = forward_backward(p, cfg, inputs, step_kept[0], trainable)
            else:
                res.update({"grad." + n: g.detach().clone() for n, g in grads.items()})
            res.update({k: v.detach() for k, v in acts.items()})
        losses.append(float(loss))
        grads = {n: g.detach().clone() for n, g in grads.items()}
        for n, g in grads.items():
            raw[n].append(g.clone())
        norm = global_norm(grads)
        norms.append(norm)
        clip_gradients(grads, norm, settings["clip"])
        adamw_step(p, grads, state, s + 1, settings)
    res["steps.loss"] = torch.tensor(losses)
    res["steps.grad_norm"] = torch.tensor(norms)
    for n in trainable:
        res["steps.grad." + n] = torch.stack(raw[n])
        res["after." + n] = p[n].detach()
    return res


def run_v2t(tensors, meta):
    """The video-to-text stage (kind v2t; lm_only: its LM alone) with v2t.py: a greedy decode
    from the file's parameters, then the AdamW trajectory of run_model."""
    cfg = M.parse_config(meta["config"])
    lm_only = int(meta["lm_only"]) != 0
    params = {n[len("param."):]: a for n, a in tensors.items() if n.startswith("param.")}
    trainable = sorted(n[len("grad."):] for n in tensors if n.startswith("grad."))
    video = None if lm_only else torch.tensor(tensors["input.video"], dtype=DTYPE)
    ids = torch.from_numpy(tensors["input.ids"].astype(np.int64))
    targets = torch.from_numpy(tensors["input.targets"].astype(np.int64))
    valid = torch.from_numpy(tensors["input.valid"] != 0)
    settings = adamw_settings(meta)
    K = settings["steps"]
    step_kept = [None] * K
    if not lm_only:
        step_kept = [torch.from_numpy(a) for a in tensors["steps.kept"].astype(np.int64)]
    p = {n: torch.tensor(a, dtype=DTYPE).requires_grad_(n in trainable) for n, a in params.items()}
    res = {}
    n_prompt, n_new = int(meta["decode.prompt"]), int(meta["decode.new"])
    media = None
    if not lm_only:
        kept0 = torch.from_numpy(tensors["input.kept"][:1].astype(np.int64))
        with torch.no_grad():
            media = V.media_of(p, cfg, video[:1], kept0)
    res["decode.ids"], _ = V.greedy_decode(p, cfg, ids[0, :n_prompt], n_new, media)
    res["decode.ids"] = torch.tensor(res["decode.ids"], dtype=torch.int32)
    losses, norms, raw, state = [], [], {n: [] for n in trainable}, {}
    for s in range(K):
        zero_grads(p, trainable)
        loss, acts = V.forward(p, cfg, video, ids, targets, valid, step_kept[s], lm_only=lm_only)
        loss.backward()
        grads = {n: (p[n].grad.detach().clone() if p[n].grad is not None
                     else torch.zeros_like(p[n])) for n in trainable}
        if s == 0:
            res.update({k: v.detach() for k, v in acts.items()})
            res.update({"grad." + n: g.clone() for n, g in grads.items()})
        losses.append(float(loss))
        for n, g in grads.items():
            raw[n].append(g.clone())
        norm = global_norm(grads)
        norms.append(norm)
        clip_gradients(grads, norm, settings["clip"])
        adamw_step(p, grads, state, s + 1, settings)
    res["steps.loss"] = torch.tensor(losses)
    res["steps.grad_norm"] = torch.tensor(norms)
    for n in trainable:
        res["steps.grad." + n] = torch.stack(raw[n])
        res["after." + n] = p[n].detach()
    return res


# ---- files --------------------------------------------------------------------------------------

def run_case(path, out_dir):
    """Runs one golden case; writes OUT/<kind>s/<name>.safetensors. Returns a list of warnings."""
    tensors, meta = st.load(path)
    kind = meta.get("kind", "model" if "config" in meta else "kernel")
    case = meta.get("case") or f"{os.path.basename(os.path.dirname(path))}/" \
                               f"{os.path.splitext(os.path.basename(path))[0]}"
    res = (run_kernel(tensors, meta) if kind == "kernel" else
           run_v2t(tensors, meta) if kind == "v2t" else run_model(tensors, meta))
    out, notes = {}, []
    for name, want in tensors.items():
        if name in COPIED:
            out[name] = want.astype(np.int64)
            continue
        if name.startswith(INPUT_PREFIXES):
            continue
        if name not in res:
            notes.append(f"{case}: {name}: not computed by this port (left out)")
            continue
        got = res[name].detach()
        got = (got.to(torch.float32) if got.is_floating_point() else got).numpy()
        if got.size != want.size:
            notes.append(f"{case}: {name}: port shape {tuple(got.shape)} vs golden "
                         f"{tuple(want.shape)} (left out)")
            continue
        out[name] = got.reshape(want.shape)
    sub = os.path.join(out_dir, os.path.basename(os.path.dirname(path)))
    os.makedirs(sub, exist_ok=True)
    info = {k: meta[k] for k in ("format", "kind", "kernel") if k in meta}
    info.update(case=case, generator="tests/port/torch_port.py")
    st_write.save(os.path.join(sub, os.path.basename(path)), out, info)
    return notes


def select(paths, golden, globs):
    if not globs:
        return paths
    pats = [g.strip() for g in globs.split(",") if g.strip()]
    keep = []
    for pth in paths:
        rel = os.path.relpath(pth, golden)
        case = os.path.splitext(rel)[0]
        if any(fnmatch.fnmatch(case, g) or fnmatch.fnmatch(rel, g) or
               fnmatch.fnmatch(os.path.basename(case), g) for g in pats):
            keep.append(pth)
    return keep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--golden", required=True, help="the golden folder (kernels/, models/)")
    ap.add_argument("--out", required=True, help="the port's folder to write")
    ap.add_argument("--mutant", help="apply tests/mutants/catalogue.py's mutant NAME first")
    ap.add_argument("--cases", help="comma-separated globs over 'kernels/NAME', 'models/NAME' "
                                    "or NAME (default: every case)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.mutant:
        sys.path.insert(0, os.path.join(ROOT, "tests", "mutants"))
        import catalogue
        try:
            catalogue.apply(args.mutant, sys.modules[__name__])
        except KeyError as e:
            print(f"torch_port: {e}", file=sys.stderr)
            return 2
    paths = sorted(glob.glob(os.path.join(args.golden, "kernels", "*.safetensors")) +
                   glob.glob(os.path.join(args.golden, "models", "*.safetensors")))
    paths = select(paths, args.golden, args.cases)
    if not paths:
        print(f"torch_port: no golden case under {args.golden} matches", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    for pth in paths:
        try:
            for note in run_case(pth, args.out):
                print(f"torch_port: note: {note}", file=sys.stderr)
        except Exception as e:                      # one broken case does not stop the others
            failed += 1
            print(f"torch_port: {os.path.relpath(pth, args.golden)}: {type(e).__name__}: {e}",
                  file=sys.stderr)
            if not args.quiet:
                traceback.print_exc()
    if not args.quiet:
        print(f"torch_port: {len(paths) - failed} of {len(paths)} case(s) written to {args.out}"
              f"{' (mutant ' + args.mutant + ')' if args.mutant else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    # run as a script, this module is __main__; mutants patch it through sys.modules[__name__]
    sys.exit(main())
