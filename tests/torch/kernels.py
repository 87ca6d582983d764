"""The golden kernel cases (golden/kernels/*.safetensors) against torch functional ops.

Each case holds inputs (in.*), parameters (param.*), an upstream gradient (dout.*) and the C
reference's outputs (out.*) and gradients (grad.<input or parameter>). Here every kernel is one
torch expression of its contract (ref/kernels.h, docs/kernels.md); autograd gives the gradients as the
vector-Jacobian product with dout. Compared in fp32 and fp64, like the model cases.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

import model as M
import safetensors_io as st

# A kernel output or gradient passes when, entry by entry,
#   |got - want| <= KERNEL_RTOL * (|want| + median of the nonzero |want|):
# relative where the entry is typical or large, with an absolute floor at the tensor's typical
# magnitude for entries small by cancellation. (Not "in units of the largest entry" as for the
# models: l2norm_zero_row's gradient holds dout / 1e-12 on its zero row, which would hide every
# other row.) The C side sums in double and rounds once; torch fp32 sums at most a few hundred
# products in fp32 (~sqrt(n) eps_fp32 ~ 1e-6); attention and InfoNCE add a softmax.
KERNEL_RTOL = 1e-5
KERNEL_REASON = ("one kernel: C rounds a double-accumulated result once, torch fp32 sums up "
                 "to a few hundred terms in fp32 (~1e-6), 10x margin")


def quick_gelu(x):
    """OpenAI CLIP's QuickGELU, x sigmoid(1.702 x): model.py's, the activation of the model
    cases' act=quick_gelu towers, looked up at call time so tests/mutants reach both."""
    return M.quick_gelu(x)


def gelu_tanh(x):
    """GPT-2's GELU, the tanh approximation x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))):
    model.py's, looked up at call time so tests/mutants reach it."""
    return M.gelu_tanh(x)


def causal_allowed(nq, nk):
    """The causal mask of a group of nq queries and nk keys, end-aligned (ref/backend.h): query
    i may attend key j when j <= i + (nk - nq). (nq, nk) booleans."""
    return torch.arange(nk)[None, :] <= torch.arange(nq)[:, None] + (nk - nq)


def _attention(t, meta):
    q, k, v = t["in.q"], t["in.k"], t["in.v"]
    H = int(meta["H"])
    causal = int(meta.get("causal", "0"))
    D = q.shape[1]
    hs = D // H
    qs, ks = t["in.q_start"].tolist(), t["in.k_start"].tolist()
    qi = t.get("in.q_index")
    ki = t.get("in.k_index")
    valid = t.get("in.k_valid")
    out = torch.zeros_like(q)
    for g in range(len(qs) - 1):
        qrows = qi[qs[g]:qs[g + 1]] if qi is not None else torch.arange(qs[g], qs[g + 1])
        krows = ki[ks[g]:ks[g + 1]] if ki is not None else torch.arange(ks[g], ks[g + 1])
        if len(qrows) == 0:
            continue
        qq = q[qrows].reshape(-1, H, hs).transpose(0, 1)          # H, nq, hs
        kk = k[krows].reshape(-1, H, hs).transpose(0, 1)
        vv = v[krows].reshape(-1, H, hs).transpose(0, 1)
        scores = qq @ kk.transpose(-1, -2) / math.sqrt(hs)
        ok = torch.ones(len(krows), dtype=torch.bool) if valid is None else valid[krows] != 0
        allowed = ok[None, :].expand(len(qrows), len(krows))      # nq, nk
        if causal:
            allowed = allowed & causal_allowed(len(qrows), len(krows))
        seen = allowed.any(-1)                                     # a query that sees no key
        scores = scores.masked_fill(~allowed[None], float("-inf"))
        scores = scores.masked_fill(~seen[None, :, None], 0.0)     # ... gets a finite softmax
        p = torch.softmax(scores, -1) * seen[None, :, None]        # ... times 0: output 0
        y = (p @ vv).transpose(0, 1).reshape(-1, D)
        out = out.index_add(0, qrows, y)
    return {"out.out": out}


def _cross_entropy(t, meta):
    """The next-token loss over the counted rows (target >= 0): mean of -log softmax at the
    target, 0 with no counted row (F.cross_entropy would give 0/0 there); lse of every row."""
    x, targets = t["in.logits"], t["in.targets"]
    counted = targets >= 0
    nll = -F.log_softmax(x, -1).gather(1, targets.clamp(min=0)[:, None])[:, 0]
    loss = (nll * counted).sum() / counted.sum().clamp(min=1)
    return {"out.loss": loss.reshape(1), "out.lse": torch.logsumexp(x, -1)}


def _layernorm(t, meta):
    x = t["in.inp"]
    eps = float(meta["eps"])
    mean = x.mean(-1)
    var = ((x - mean[:, None]) ** 2).mean(-1)
    rstd = 1.0 / torch.sqrt(var + eps)
    out = F.layer_norm(x, (x.shape[-1],), t["param.weight"], t["param.bias"], eps)
    return {"out.out": out, "out.mean": mean, "out.rstd": rstd}


def _mean_pool(t, meta):
    x = t["in.inp"]
    valid = t.get("in.valid")
    w = torch.ones(x.shape[:2], dtype=x.dtype) if valid is None else (valid != 0).to(x.dtype)
    return {"out.out": (w[..., None] * x).sum(1) / w.sum(1, keepdim=True).clamp_min(1)}


def _segment_mean(t, meta):
    x, start = t["in.inp"], t["in.start"].tolist()
    rows = [x[a:b].mean(0) if b > a else torch.zeros_like(x[0]) for a, b in zip(start, start[1:])]
    return {"out.out": torch.stack(rows)}


def _l2norm(t, meta):
    x = t["in.inp"]
    n = x.norm(dim=-1)
    return {"out.out": x / n.clamp_min(1e-12)[:, None], "out.norm": n}


def _tubelet(t, meta):
    g = {k: int(meta[k]) for k in ("F", "H", "W", "kt", "kh", "kw", "st", "sh", "sw", "ot", "oh",
                                    "ow")}
    tok = M.Tokenizer((g["kt"], g["kh"], g["kw"]), (g["st"], g["sh"], g["sw"]),
                      (g["ot"], g["oh"], g["ow"]), g["F"], (g["H"], g["W"]))
    video = t["in.video"]
    out = F.linear(tok.patches(video), t["param.weight"], t.get("param.bias"))
    kept = t.get("in.kept")
    if kept is not None:
        out = torch.gather(out, 1, kept[:, :, None].expand(-1, -1, out.shape[-1]))
    return {"out.out": out}


def _pos_embed(t, meta):
    x, sp, tp = t["in.inp"], t["param.spatial"], t.get("param.temporal")
    B, K, _ = x.shape
    P = sp.shape[0]
    kept = t.get("in.kept")
    n = kept if kept is not None else torch.arange(K)[None].expand(B, K)
    pos = sp[n % P]
    if tp is not None:
        pos = pos + tp[n // P]
    return {"out.out": x + pos}


def _infonce(t, meta):
    loss, logits = M.info_nce(t["in.v"], t["in.t"], t["param.log_scale"])
    return {"out.loss": loss.reshape(1), "out.logits": logits}


def _adamw_update(t, meta):
    """One AdamW step of one tensor from given moments, by torch.optim.AdamW itself: the step
    count t comes from the bias correction bc1 = 1 - beta1^t, the weight decay from
    keep = 1 - lr * weight_decay (ref/kernels.h: lv_adamw_coef)."""
    lr, keep = float(meta["lr"]), float(meta["keep"])
    b1, b2, eps = float(meta["beta1"]), float(meta["beta2"]), float(meta["eps"])
    bc1, bc2 = float(meta["bc1"]), float(meta["bc2"])
    step = round(math.log(1.0 - bc1) / math.log(b1))
    if step < 1 or abs((1.0 - b2 ** step) - bc2) > 1e-12 * max(bc2, 1e-300):
        raise ValueError(f"bc1 {bc1}, bc2 {bc2} are not 1 - beta^t of one step t")
    x = t["in.x"].detach().clone().requires_grad_(True)
    opt = torch.optim.AdamW([x], lr=lr, betas=(b1, b2), eps=eps, weight_decay=(1.0 - keep) / lr,
                            foreach=False)
    opt.state[x] = {"step": torch.tensor(float(step - 1)),
                    "exp_avg": t["in.m"].detach().clone(),
                    "exp_avg_sq": t["in.v"].detach().clone()}
    x.grad = t["in.g"].detach().clone()
    opt.step()
    st_ = opt.state[x]
    return {"out.x": x.detach(), "out.m": st_["exp_avg"], "out.v": st_["exp_avg_sq"]}


KERNELS = {
    "adamw_update": _adamw_update,
    "sum_squares": lambda t, m: {"out.out": (t["in.x"] ** 2).sum().reshape(1)},
    "linear": lambda t, m: {"out.out": F.linear(t["in.inp"], t["param.weight"],
                                                t.get("param.bias"))},
    "layernorm": _layernorm,
    "gelu": lambda t, m: {"out.out": F.gelu(t["in.inp"])},
    "quick_gelu": lambda t, m: {"out.out": quick_gelu(t["in.inp"])},
    "gelu_tanh": lambda t, m: {"out.out": gelu_tanh(t["in.inp"])},
    "attention": _attention,
    "residual": lambda t, m: {"out.out": t["in.a"] + t["in.b"]},
    "gated_residual": lambda t, m: {"out.out": t["in.h"] + torch.tanh(t["param.gate"]) * t["in.f"]},
    "mean_pool": _mean_pool,
    "segment_mean": _segment_mean,
    "l2norm": _l2norm,
    "embedding": lambda t, m: {"out.out": t["param.table"][t["in.ids"].long()]},
    "tubelet_embed": _tubelet,
    "pos_embed": _pos_embed,
    "infonce": _infonce,
    "cross_entropy": _cross_entropy,
    "scale": lambda t, m: {"out.x": t["in.x"] * float(np.float32(m["s"]))},
}


def run(tensors, meta, dtype, table=None):
    """Outputs and the gradients named by the file's grad.* tensors, in dtype; table: the
    kernels by name (default KERNELS; tests/port passes its own, which mutants patch)."""
    t = {}
    wanted = {n[len("grad."):] for n in tensors if n.startswith("grad.")}
    for n, a in tensors.items():
        if n.startswith(("out.", "grad.")):
            continue
        if a.dtype.kind == "f":
            x = torch.tensor(a, dtype=dtype)
            if n.split(".", 1)[1] in wanted and not n.startswith("dout."):
                x.requires_grad_(True)
        else:
            x = torch.from_numpy(a.astype(np.int64))
        t[n] = x
    outs = (KERNELS if table is None else table)[meta["kernel"]](t, meta)
    grads = {}
    if wanted:
        total = sum((outs[o] * t["dout." + o.split(".", 1)[1]]).sum()
                    for o in outs if ("dout." + o.split(".", 1)[1]) in t)
        leaves = [(w, t.get("in." + w, t.get("param." + w))) for w in sorted(wanted)]
        gs = torch.autograd.grad(total, [x for _, x in leaves], allow_unused=True)
        grads = {"grad." + w: (g if g is not None else torch.zeros_like(x))
                 for (w, x), g in zip(leaves, gs)}
    return {**{k: v.detach() for k, v in outs.items()}, **grads}


def check_file(path, rep, compare):
    tensors, meta = st.load(path)
    case = meta.get("case", path)
    if meta.get("kernel") not in KERNELS:
        # a kernel added to the golden set after this file: listed, not failed (the model
        # cases are the cross-check's contract; kernels are the optional extra)
        rep.note(case, f"kernel '{meta.get('kernel')}' has no torch twin in kernels.py: "
                       f"not checked")
        return
    rep.detail(f"{case}: kernel {meta['kernel']}")
    r32 = run(tensors, meta, torch.float32)
    r64 = run(tensors, meta, torch.float64)
    for n in tensors:
        if not n.startswith(("out.", "grad.")):
            continue
        if n not in r32:
            rep.fail(case, f"{n}: not computed by the torch twin")
            continue
        want = tensors[n].astype(np.float64)
        got32, got64 = r32[n].double().numpy(), r64[n].double().numpy()
        floor = 0.0
        if meta["kernel"] == "adamw_update" and n == "out.x":
            # the update, not the parameter (which moves by ~lr): both sides minus in.x, plus
            # one fp32 rounding of x on each side
            x0 = tensors["in.x"].astype(np.float64)
            want, got32, got64 = want - x0, got32 - x0, got64 - x0
            floor = 2.0 ** -23 * np.abs(x0)
        nonzero = np.abs(want[want != 0])
        if meta["kernel"] == "attention":
            # C caches fp32 probabilities; on peaked rows (attention_peaked: scores in the
            # hundreds) dq and dk = sum_j p_j (dp_j - delta) k_j cancel to ~0 while the rounding
            # of p times |dout| |v| |k| stays: an absolute floor at the tensor's largest entry
            floor = floor + KERNEL_RTOL * float(np.max(np.abs(want), initial=0.0))
        tol = KERNEL_RTOL * (np.abs(want) + (np.median(nonzero) if nonzero.size else 0.0)) + floor
        rep.row(case, n, compare(got32, want, KERNEL_RTOL, tol=tol),
                compare(got64, want, KERNEL_RTOL, tol=tol), "kernel")
