"""The catalogue of porting mistakes (issue 11, item 6): each a small monkeypatch of the PyTorch
port (tests/port/torch_port.py) in its own process, applied by `torch_port.py --mutant NAME`.

A mutant patches the functions the port looks up at call time: tests/torch/model.py's (M.gelu,
M.layer_norm, M.attention, M.block, M.video_tower, M.text_tower, M.info_nce, M.linear,
M.Tokenizer.embed, ...), tests/torch/v2t.py's (V.temporal_pool, V.resampler, V.gated_xattn,
V.lm_logits), M.quick_gelu and M.gelu_tanh (which kernels.py's call), the port's
kernel table (port.KERNELS) and the port's own AdamW pieces (port.adamw_entry,
port.clip_gradients, port.decays, ...). Where one line of a larger model.py function is wrong,
the function is replaced by the copy below with one knob turned; every copy with its knobs at
their defaults computes what model.py computes (the control mutant `copies` installs all of them
unchanged, and tests/mutants/run.py --self-test checks that it is MISSED with the clean port's
margins).

Each entry: name -> Mutant(description, catchers, apply). `catchers` names the golden case(s)
that should catch it (a claim the runner's table puts beside the verdict, not a filter).
"""
import math
from collections import namedtuple

import torch
import torch.nn.functional as F

import model as M                                   # the same module objects the port uses
import kernels as Kn
import v2t as V

Mutant = namedtuple("Mutant", "description catchers apply control")
CATALOGUE = {}


def mutant(name, description, catchers, control=False):
    def reg(fn):
        CATALOGUE[name] = Mutant(description, catchers, fn, control)
        return fn
    return reg


def apply(name, port):
    if name not in CATALOGUE:
        raise KeyError(f"no mutant '{name}' (tests/mutants/catalogue.py: {', '.join(CATALOGUE)})")
    CATALOGUE[name].apply(port)


# ---- copies of model.py / kernels.py functions with knobs (defaults = the original) ------------

def layer_norm(p, prefix, x, eps, *, eps_fixed=None, unbiased=False):
    e = eps if eps_fixed is None else eps_fixed
    if not unbiased:
        return F.layer_norm(x, (x.shape[-1],), p[prefix + ".weight"], p[prefix + ".bias"], e)
    mean = x.mean(-1, keepdim=True)
    n = x.shape[-1]
    var = ((x - mean) ** 2).sum(-1, keepdim=True) / (n - 1 if unbiased and n > 1 else n)
    return (x - mean) / torch.sqrt(var + e) * p[prefix + ".weight"] + p[prefix + ".bias"]


def layer_norm_stats(x, eps, *, eps_fixed=None, unbiased=False):
    e = eps if eps_fixed is None else eps_fixed
    mean = x.mean(-1)
    n = x.shape[-1]
    var = ((x - mean[..., None]) ** 2).sum(-1) / (n - 1 if unbiased and n > 1 else n)
    return mean, 1.0 / torch.sqrt(var + e)


def linear(p, prefix, x, cfg, lora, *, lora_scale="alpha/r"):
    y = F.linear(x, p[prefix + ".weight"], p.get(prefix + ".bias"))
    if lora and (prefix + ".lora_a") in p:
        scale = cfg["lora_alpha"] / (cfg["lora_rank"] if lora_scale == "alpha/r" else 1)
        y = y + scale * F.linear(F.linear(x, p[prefix + ".lora_a"]), p[prefix + ".lora_b"])
    return y


def attention(p, prefix, x, allowed, heads, cfg, lora=False, *, scale="head", layout="blocks",
              swap_kv=False, softmax_dim=-1):
    B, R, D = x.shape
    hs = D // heads
    qkv = M.linear(p, prefix + ".qkv", x, cfg, lora)
    if layout == "blocks":                 # rows q | k | v, heads contiguous in each
        q, k, v = (t.reshape(B, R, heads, hs).transpose(1, 2) for t in qkv.split(D, dim=-1))
    else:                                  # the mistake: (q_h, k_h, v_h) interleaved per head
        t = qkv.reshape(B, R, heads, 3, hs)
        q, k, v = (t[:, :, :, i].transpose(1, 2) for i in range(3))
    if swap_kv:
        k, v = v, k
    scores = q @ k.transpose(-1, -2) / math.sqrt(hs if scale == "head" else D)
    if allowed is not None:
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    y = torch.softmax(scores, dim=softmax_dim) @ v
    y = y.transpose(1, 2).reshape(B, R, D)
    return M.linear(p, prefix + ".proj", y, cfg, lora)


def _adapter(p, prefix, x):
    a = F.linear(x, p[prefix + ".adapter.down.weight"], p[prefix + ".adapter.down.bias"])
    return x + F.linear(M.gelu(a), p[prefix + ".adapter.up.weight"], p[prefix + ".adapter.up.bias"])


def block(p, prefix, x, allowed, heads, cfg, temporal_allowed=None, lora=False, act=None,
          eps=None, *, gate="tanh", adapter="after_mlp", mlp_gelu=True, temporal_ln="own"):
    eps = cfg["ln_eps"] if eps is None else eps
    act = act or M.gelu
    has_adapter = (prefix + ".adapter.down.weight") in p
    x = x + M.attention(p, prefix + ".attn", M.layer_norm(p, prefix + ".ln1", x, eps), allowed,
                        heads, cfg, lora)
    if has_adapter and adapter == "after_attn":
        x = _adapter(p, prefix, x)
    if temporal_allowed is not None:
        ln = ".temporal.ln" if temporal_ln == "own" else ".ln1"
        t = M.attention(p, prefix + ".temporal.attn", M.layer_norm(p, prefix + ln, x, eps),
                        temporal_allowed, heads, cfg)
        g = p[prefix + ".temporal.gate"].reshape(())
        x = x + (torch.tanh(g) if gate == "tanh" else g) * t
    h = M.linear(p, prefix + ".mlp.fc1", M.layer_norm(p, prefix + ".ln2", x, eps), cfg, lora)
    x = x + M.linear(p, prefix + ".mlp.fc2", act(h) if mlp_gelu else h, cfg, lora)
    if has_adapter and adapter == "after_mlp":
        x = _adapter(p, prefix, x)
    return x


def tokenizer_embed(self, p, video, *, temporal_index="tubelet"):
    w, b, spatial, temporal = self.names
    tokens = F.linear(self.patches(video), p[w], p[b])
    n = torch.arange(self.N)
    pos = p[spatial][n % self.P]
    if temporal is not None and temporal_index != "none":
        if temporal_index == "tubelet":
            ti = n // self.P
        elif temporal_index == "frame":    # the first frame of the tubelet, not its time index
            ti = (n // self.P * self.kernel[0]).clamp(max=self.Ft - 1)
        else:                              # "wrong_P": divided by the row length Wp, not Hp Wp
            ti = (n // self.Wp).clamp(max=self.Ft - 1)
        pos = pos + p[temporal][ti]
    return tokens, pos


def video_tower(p, cfg, video, kept, *, pos_index="kept", pool_count="kept",
                frame_attn_skip_empty=True, final_ln=True, ln_pre=True, cls_pool="row"):
    acts = {}
    toks = M.tokenizers(cfg)
    B, K = kept.shape
    tokens, pos = zip(*(t.embed(p, video) for t in toks))
    tokens, pos = torch.cat(tokens, dim=1), torch.cat(pos, dim=0)
    N = tokens.shape[1]
    idx = kept[:, :, None].expand(B, K, tokens.shape[-1])
    x = torch.gather(tokens, 1, idx)
    acts["act.tokens"] = x
    if pos_index == "kept":
        x = x + pos[kept]
    else:                                  # masked first, then positions of rank 0..K-1
        x = x + pos[torch.arange(K)][None]
    cls = cfg["pool"] == "cls"
    if cls:
        c = p["video.class_token"].reshape(1, 1, -1).expand(B, 1, x.shape[-1])
        x = torch.cat([c, x], dim=1)
    acts["act.embedded"] = x
    if ln_pre:
        x = M.layer_norm(p, "video.ln_pre", x, cfg["ln_eps"])
    acts["act.ln_pre"] = x
    attn = cfg["attn"]
    same = lambda a: a[:, :, None] == a[:, None, :]
    if attn == "joint":
        allowed, temporal_allowed = None, None
    else:
        P = toks[0].P
        time, space = kept // P, kept % P
        allowed = same(time)
        temporal_allowed = same(space) if attn == "factorized" else None
    lora = cfg["tune"] == "lora"
    act = M.activation(cfg["act"])
    for l in range(cfg["layers"]):
        x = M.block(p, f"video.blocks.{l}", x, allowed, cfg["heads"], cfg, temporal_allowed, lora,
                    act)
        acts[f"act.block.{l}"] = x
    if final_ln:
        x = M.layer_norm(p, "video.ln_final", x, cfg["ln_eps"])
    if attn == "frame":
        Fr = cfg["frames"]
        frame = kept // toks[0].P
        onehot = F.one_hot(frame, Fr).to(x.dtype)
        count = onehot.sum(1)
        frames = (onehot.transpose(1, 2) @ x) / count.clamp_min(1)[..., None]
        present = count > 0
        if cfg["frame_pool"] == "mean":
            w = present.to(x.dtype)
            pooled = (w[..., None] * frames).sum(1) / w.sum(1, keepdim=True)
        else:
            D, H = x.shape[-1], cfg["heads"]
            hs = D // H
            kv = F.linear(frames, p["video.pool.kv.weight"], p["video.pool.kv.bias"])
            k, v = (t.reshape(B, Fr, H, hs).transpose(1, 2) for t in kv.split(D, dim=-1))
            q = p["video.pool.query"].reshape(1, H, 1, hs)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(hs)
            if frame_attn_skip_empty:
                scores = scores.masked_fill(~present[:, None, None, :], float("-inf"))
            pooled = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, D)
    elif cls and cls_pool == "row":
        pooled = x[:, 0]
    elif cls:                              # the class token kept, but the rows mean-pooled
        pooled = x.mean(1)
    elif pool_count == "kept":
        pooled = x.mean(1)
    else:                                  # divided by every token N, not the K kept
        pooled = x.sum(1) / N
    emb = M.l2_normalise(F.linear(pooled, p["video.proj.weight"], p.get("video.proj.bias")))
    acts["act.video_emb"] = emb
    return emb, acts


def text_tower(p, cfg, text, valid, *, pool="valid", key_mask=True, bert_layers="post",
               embed_ln=True, cls_row=0):
    B, T = text.shape
    x = p["text.token_embed"][text] + p["text.pos_embed"][:T][None]
    allowed = valid[:, None, :].expand(B, T, T) if key_mask else None
    act, eps = M.activation(cfg["text_act"]), cfg["text_ln_eps"]
    if cfg["text_arch"] == "bert":
        if embed_ln:
            x = M.layer_norm(p, "text.ln_embed", x, eps)
        for l in range(cfg["text_layers"]):
            if bert_layers == "post":
                x = M.bert_layer(p, f"text.blocks.{l}", x, allowed, cfg["text_heads"], cfg, act,
                                 eps)
            else:                          # BERT's weights run as pre-LN blocks
                x = M.block(p, f"text.blocks.{l}", x, allowed, cfg["text_heads"], cfg, act=act,
                            eps=eps)
    else:
        for l in range(cfg["text_layers"]):
            x = M.block(p, f"text.blocks.{l}", x, allowed, cfg["text_heads"], cfg, act=act,
                        eps=eps)
        x = M.layer_norm(p, "text.ln_final", x, eps)
    if cfg["text_pool"] == "cls":          # cls_row: which row is taken for [CLS]
        pooled = x[:, cls_row] if cls_row >= 0 else x[torch.arange(B), valid.sum(1) - 1]
        return M.l2_normalise(F.linear(pooled, p["text.proj.weight"], p.get("text.proj.bias")))
    w = valid.to(x.dtype) if pool == "valid" else torch.ones_like(valid, dtype=x.dtype)
    pooled = (w[..., None] * x).sum(1) / w.sum(1, keepdim=True).clamp_min(1)
    return M.l2_normalise(F.linear(pooled, p["text.proj.weight"], p.get("text.proj.bias")))


def _naive_ce(logits):
    """Cross-entropy against the diagonal by log(sum(exp(l))) without subtracting the max."""
    return (torch.log(torch.exp(logits).sum(1)) - logits.diagonal()).mean()


def info_nce(v, t, log_scale, *, clamp=100.0, use_exp=True, scale_twice=False,
             directions=2, stable=True):
    s = log_scale.reshape(())
    if clamp is not None:
        s = torch.clamp(s, max=math.log(clamp))
    scale = torch.exp(s) if use_exp else s
    logits = scale * (v @ t.T)
    if scale_twice:
        logits = scale * logits
    target = torch.arange(v.shape[0])
    ce = (lambda L: F.cross_entropy(L, target)) if stable else _naive_ce
    loss = 0.5 * (ce(logits) + ce(logits.T)) if directions == 2 else ce(logits)
    return loss, logits


def k_attention(t, meta, *, scale="head", swap_kv=False, causal_diag="end"):
    """kernels.py's attention kernel with knobs. causal_diag: where the causal mask's diagonal
    sits, "end" (j <= i + nk - nq, the contract), "start" (j <= i: aligned to the first key, as
    if nq == nk) or "strict" (j < i + nk - nq: the diagonal itself hidden)."""
    q, k, v = t["in.q"], t["in.k"], t["in.v"]
    if swap_kv:
        k, v = v, k
    H = int(meta["H"])
    causal = int(meta.get("causal", "0"))
    D = q.shape[1]
    hs = D // H
    qs, ks = t["in.q_start"].tolist(), t["in.k_start"].tolist()
    qi, ki, valid = t.get("in.q_index"), t.get("in.k_index"), t.get("in.k_valid")
    out = torch.zeros_like(q)
    for g in range(len(qs) - 1):
        qrows = qi[qs[g]:qs[g + 1]] if qi is not None else torch.arange(qs[g], qs[g + 1])
        krows = ki[ks[g]:ks[g + 1]] if ki is not None else torch.arange(ks[g], ks[g + 1])
        if len(qrows) == 0:
            continue
        qq = q[qrows].reshape(-1, H, hs).transpose(0, 1)
        kk = k[krows].reshape(-1, H, hs).transpose(0, 1)
        vv = v[krows].reshape(-1, H, hs).transpose(0, 1)
        scores = qq @ kk.transpose(-1, -2) / math.sqrt(hs if scale == "head" else D)
        ok = torch.ones(len(krows), dtype=torch.bool) if valid is None else valid[krows] != 0
        nq, nk = len(qrows), len(krows)
        allowed = ok[None, :].expand(nq, nk)
        if causal:
            i, j = torch.arange(nq)[:, None], torch.arange(nk)[None, :]
            allowed = allowed & (j <= i if causal_diag == "start"
                                 else j < i + (nk - nq) if causal_diag == "strict"
                                 else j <= i + (nk - nq))
        seen = allowed.any(-1)
        scores = scores.masked_fill(~allowed[None], float("-inf"))
        scores = scores.masked_fill(~seen[None, :, None], 0.0)
        p = torch.softmax(scores, -1) * seen[None, :, None]
        y = (p @ vv).transpose(0, 1).reshape(-1, D)
        out = out.index_add(0, qrows, y)
    return {"out.out": out}


def k_cross_entropy(t, meta, *, count="counted", stable=True, empty="zero"):
    """kernels.py's cross-entropy kernel with knobs: count "counted" (the mean over the rows
    with a target) or "all" (over every row, ignored ones adding 0); stable False takes
    log(sum(exp(x))) without the row maximum; empty "nan" divides by the count unguarded (0/0
    when every row is ignored, as F.cross_entropy's mean does)."""
    x, targets = t["in.logits"], t["in.targets"]
    counted = targets >= 0
    if stable:
        logp = F.log_softmax(x, -1)
        lse = torch.logsumexp(x, -1)
    else:
        lse = torch.log(torch.exp(x).sum(-1))
        logp = x - lse[:, None]
    nll = -logp.gather(1, targets.clamp(min=0)[:, None])[:, 0]
    n = (torch.tensor(float(len(targets))) if count == "all" else
         counted.sum() if empty == "nan" else counted.sum().clamp(min=1))
    loss = (nll * counted).sum() / n
    return {"out.loss": loss.reshape(1), "out.lse": lse}


def k_pos_embed(t, meta, *, index="kept", temporal=True):
    x, sp, tp = t["in.inp"], t["param.spatial"], t.get("param.temporal")
    B, K, _ = x.shape
    P = sp.shape[0]
    kept = t.get("in.kept")
    n = kept if kept is not None and index == "kept" else torch.arange(K)[None].expand(B, K)
    out = x + sp[n % P]
    if tp is not None and temporal:
        out = out + tp[n // P]
    return {"out.out": out}


def k_mean_pool(t, meta, *, count="valid"):
    x, valid = t["in.inp"], t.get("in.valid")
    w = torch.ones(x.shape[:2], dtype=x.dtype) if valid is None else (valid != 0).to(x.dtype)
    if count == "valid":
        return {"out.out": (w[..., None] * x).sum(1) / w.sum(1, keepdim=True).clamp_min(1)}
    return {"out.out": (w[..., None] * x).sum(1) / x.shape[1]}


# v2t.py's (the video-to-text stage)

def v2t_temporal_pool(x, kept, P, *, count="kept"):
    onehot = F.one_hot(kept % P, P).to(x.dtype)                   # (B, K, P)
    n = onehot.sum(1)                                             # (B, P)
    if count == "kept":
        pooled = (onehot.transpose(1, 2) @ x) / n.clamp_min(1)[..., None]
    else:                                  # the mistake: every time step counted, kept or not
        pooled = (onehot.transpose(1, 2) @ x) / (int(kept.max()) // P + 1)
    return pooled, n > 0


def v2t_resampler(p, cfg, visual, visual_ok, *, latent_keys=True):
    B = visual.shape[0]
    eps = cfg["ln_eps"]
    lat = p["resampler.latents"][None].expand(B, -1, -1)
    Lq = lat.shape[1]
    key_ok = torch.cat([visual_ok, torch.ones(B, Lq, dtype=torch.bool)], 1)
    for l in range(cfg["rs_depth"]):
        pre = f"resampler.layers.{l}"
        xm = M.layer_norm(p, pre + ".ln_media", visual, eps)
        xl = M.layer_norm(p, pre + ".ln_latents", lat, eps)
        kv, ok = (torch.cat([xm, xl], 1), key_ok) if latent_keys else (xm, visual_ok)
        lat = lat + V.attend(xl, kv, p[pre + ".q.weight"], p[pre + ".kv.weight"],
                             p[pre + ".out.weight"], cfg["rs_heads"], cfg["rs_head_dim"], ok)
        lat = lat + V.feed_forward(p, pre + ".ff", lat, eps)
    return M.layer_norm(p, "resampler.ln", lat, eps)


def v2t_gated_xattn(p, j, x, media, cfg, *, gate=torch.tanh):
    pre = f"xattn.{j}"
    h = M.layer_norm(p, pre + ".ln", x, cfg["ln_eps"])
    a = V.attend(h, media, p[pre + ".q.weight"], p[pre + ".kv.weight"], p[pre + ".out.weight"],
                 cfg["xattn_heads"], cfg["xattn_head_dim"])
    x = x + gate(p[pre + ".attn_gate"].reshape(())) * a
    return x + gate(p[pre + ".ff_gate"].reshape(())) * V.feed_forward(p, pre + ".ff", x,
                                                                      cfg["ln_eps"])


def v2t_lm_logits(p, cfg, ids, valid, media=None, *, causal=True):
    B, T = ids.shape
    x = p["lm.token_embed"][ids] + p["lm.pos_embed"][:T][None]
    allowed = valid[:, None, :].expand(B, T, T)
    if causal:
        allowed = allowed & torch.ones(T, T, dtype=torch.bool).tril()[None]
    act = M.activation(cfg["lm_act"])
    for l in range(cfg["lm_layers"]):
        if media is not None and l % cfg["xattn_every"] == 0:
            x = V.gated_xattn(p, l // cfg["xattn_every"], x, media, cfg)
        x = M.block(p, f"lm.blocks.{l}", x, allowed, cfg["lm_heads"], cfg, act=act,
                    eps=cfg["ln_eps"])
    x = M.layer_norm(p, "lm.ln_final", x, cfg["ln_eps"])
    return x @ p["lm.token_embed"].T


def kw(fn, **knobs):
    """fn with some keyword knobs fixed (a plain function, so it can replace a module's)."""
    def wrapped(*a, **k):
        return fn(*a, **{**knobs, **k})
    return wrapped


def set_ln(port, **knobs):
    M.layer_norm = kw(layer_norm, **knobs)
    port.layer_norm_stats = kw(layer_norm_stats, **knobs)


# ---- controls (not mistakes: the runner's self-test expects them MISSED) -------------------------

@mutant("noop", "control: patches nothing", "none (must be MISSED)", control=True)
def _(port):
    pass


@mutant("copies", "control: every knobbed copy installed with its knobs at the defaults",
        "none (must be MISSED, margins as the clean port's)", control=True)
def _(port):
    set_ln(port)
    M.linear, M.attention, M.block = linear, attention, block
    M.Tokenizer.embed = tokenizer_embed
    M.video_tower, M.text_tower, M.info_nce = video_tower, text_tower, info_nce
    port.KERNELS.update(attention=k_attention, pos_embed=k_pos_embed, mean_pool=k_mean_pool,
                        cross_entropy=k_cross_entropy)
    V.temporal_pool, V.resampler = v2t_temporal_pool, v2t_resampler
    V.gated_xattn, V.lm_logits = v2t_gated_xattn, v2t_lm_logits


# ---- layers ------------------------------------------------------------------------------------

@mutant("gelu_tanh", "GELU by the tanh approximation instead of erf",
        "kernels/gelu_wide; models/* (act.block, grad)")
def _(port):
    M.gelu = lambda x: F.gelu(x, approximate="tanh")


@mutant("quick_gelu_as_gelu", "CLIP's QuickGELU x sigmoid(1.702 x) replaced by the erf GELU "
        "(up to 0.02 apart, near x = +-2.3)", "kernels/quick_gelu_wide")
def _(port):
    M.quick_gelu = F.gelu


@mutant("quick_gelu_no_k", "QuickGELU without its constant: x sigmoid(x) (SiLU) instead of "
        "x sigmoid(1.702 x)", "kernels/quick_gelu_*")
def _(port):
    M.quick_gelu = F.silu


class _QuickGeluGradNoK(torch.autograd.Function):
    """x sigmoid(1.702 x) forward; backward s + x s (1 - s): the chain rule's 1.702 forgotten."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(1.702 * x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        s = torch.sigmoid(1.702 * x)
        return g * (s + x * s * (1 - s))


@mutant("quick_gelu_grad_no_k", "QuickGELU's backward without the inner derivative 1.702: "
        "s + x s (1 - s) instead of s + 1.702 x s (1 - s) (forward right)",
        "kernels/quick_gelu_* grad.inp")
def _(port):
    M.quick_gelu = _QuickGeluGradNoK.apply


@mutant("gelu_tanh_as_erf", "GPT-2's GELU (the tanh approximation) replaced by the erf GELU "
        "(up to 4.7e-4 apart, near x = -2.7)", "kernels/gelu_tanh_wide")
def _(port):
    M.gelu_tanh = F.gelu


@mutant("gelu_tanh_no_cubic", "GPT-2's GELU without its cubic term: x/2 (1 + tanh(sqrt(2/pi) x)) "
        "instead of x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))", "kernels/gelu_tanh_*")
def _(port):
    M.gelu_tanh = lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x))


class _GeluTanhGradNo3(torch.autograd.Function):
    """GPT-2's GELU forward; backward with d(x^3)/dx taken as x^2: du/dx = sqrt(2/pi)
    (1 + 0.044715 x^2) instead of sqrt(2/pi) (1 + 3 0.044715 x^2)."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.gelu(x, approximate="tanh")

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        c = math.sqrt(2 / math.pi)
        t = torch.tanh(c * (x + 0.044715 * x ** 3))
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 0.044715 * x * x))


@mutant("gelu_tanh_grad_no_3", "GPT-2's GELU backward with d(x^3)/dx = x^2 (the 3 dropped): "
        "du/dx = sqrt(2/pi) (1 + 0.044715 x^2) (forward right)", "kernels/gelu_tanh_* grad.inp")
def _(port):
    M.gelu_tanh = _GeluTanhGradNo3.apply


@mutant("ln_eps_1e-6", "LayerNorm eps fixed at 1e-6 instead of the config's (1e-5)",
        "kernels/layernorm_flat; models/* act.ln_pre")
def _(port):
    set_ln(port, eps_fixed=1e-6)


@mutant("ln_unbiased", "LayerNorm with the unbiased variance (/(N-1)) instead of the biased",
        "kernels/layernorm_*; models/* act.ln_pre")
def _(port):
    set_ln(port, unbiased=True)


@mutant("softmax_no_max", "softmax without max subtraction (attention and pooling): exp overflow "
        "in fp32 on large scores", "kernels/attention_peaked")
def _(port):
    def naive(x, dim=-1, **kwargs):
        e = torch.exp(x)
        return e / e.sum(dim, keepdim=True)
    torch.softmax = naive


@mutant("attn_scale_D", "attention scores scaled by 1/sqrt(D) instead of 1/sqrt(D/H)",
        "kernels/attention_*; models/* act.block")
def _(port):
    M.attention = kw(attention, scale="full")
    port.KERNELS["attention"] = kw(k_attention, scale="full")


@mutant("qkv_interleaved", "fused qkv rows read as (q,k,v) interleaved per head instead of "
        "q|k|v blocks", "models/* act.block.0")
def _(port):
    M.attention = kw(attention, layout="interleaved")


@mutant("kv_swapped", "keys and values swapped", "kernels/attention_*; models/* act.block.0")
def _(port):
    M.attention = kw(attention, swap_kv=True)
    port.KERNELS["attention"] = kw(k_attention, swap_kv=True)


@mutant("softmax_wrong_axis", "attention softmax over the queries instead of the keys",
        "models/* act.block.0")
def _(port):
    M.attention = kw(attention, softmax_dim=-2)


@mutant("causal_start_aligned", "causal mask aligned to the first key (j <= i) instead of the "
        "last (j <= i + nk - nq): a decode step's queries lose the end of their prefix",
        "kernels/attention_causal_decode")
def _(port):
    port.KERNELS["attention"] = kw(k_attention, causal_diag="start")


@mutant("causal_no_diagonal", "causal mask that hides the diagonal too (j < i + nk - nq): a "
        "query does not attend its own position", "kernels/attention_causal*")
def _(port):
    port.KERNELS["attention"] = kw(k_attention, causal_diag="strict")


@mutant("gate_no_tanh", "FST gated residual h + a f instead of h + tanh(a) f",
        "kernels/gated_residual_open, _one; models/temporal")
def _(port):
    M.block = kw(block, gate="identity")
    port.KERNELS["gated_residual"] = lambda t, m: {"out.out": t["in.h"] + t["param.gate"] * t["in.f"]}


@mutant("temporal_shared_ln", "the factorized temporal attention reuses ln1 instead of its own "
        "LayerNorm", "models/factorized, temporal grad.*.temporal.ln.*")
def _(port):
    M.block = kw(block, temporal_ln="shared")


@mutant("lora_scale_alpha", "LoRA update scaled by alpha instead of alpha / r",
        "models/lora grad.*.lora_b")
def _(port):
    M.linear = kw(linear, lora_scale="alpha")


@mutant("adapter_before_mlp", "the adapter after the attention residual (before the MLP) "
        "instead of after the MLP residual", "models/adapters grad.*.adapter.*")
def _(port):
    M.block = kw(block, adapter="after_attn")


@mutant("mlp_no_gelu", "the MLP without its GELU", "models/* act.block.0")
def _(port):
    M.block = kw(block, mlp_gelu=False)


# ---- video tower ---------------------------------------------------------------------------------

@mutant("mask_after_pos", "masking before the position embeddings: kept tokens get the "
        "embedding of their rank 0..K-1, not of their token number",
        "models/mask_random, mask_tube act.embedded; kernels/pos_embed_kept")
def _(port):
    M.video_tower = kw(video_tower, pos_index="rank")
    port.KERNELS["pos_embed"] = kw(k_pos_embed, index="rank")


@mutant("temporal_frame_index", "temporal position of a tubelet taken from its first frame "
        "index (t * tubelet_t) instead of its tubelet index t", "models/joint act.embedded")
def _(port):
    M.Tokenizer.embed = kw(tokenizer_embed, temporal_index="frame")


@mutant("temporal_wrong_P", "temporal index n // Wp (a row of patches) instead of "
        "n // (Hp Wp)", "models/joint act.embedded")
def _(port):
    M.Tokenizer.embed = kw(tokenizer_embed, temporal_index="wrong_P")


@mutant("no_temporal_pos", "temporal position embeddings left out",
        "models/joint act.embedded; kernels/pos_embed_kept, _all")
def _(port):
    M.Tokenizer.embed = kw(tokenizer_embed, temporal_index="none")
    port.KERNELS["pos_embed"] = kw(k_pos_embed, temporal=False)


@mutant("no_ln_pre", "the video pre-LayerNorm left out", "models/* act.ln_pre")
def _(port):
    M.video_tower = kw(video_tower, ln_pre=False)


@mutant("no_final_ln", "the video tower's final LayerNorm left out", "models/* act.video_emb")
def _(port):
    M.video_tower = kw(video_tower, final_ln=False)


@mutant("mean_pool_all_N", "mean pooling divides by all tokens N instead of the K kept",
        "models/mask_random, mask_tube act.video_emb; kernels/mean_pool_masked")
def _(port):
    M.video_tower = kw(video_tower, pool_count="all")
    port.KERNELS["mean_pool"] = kw(k_mean_pool, count="all")


@mutant("frame_attn_empty_frames", "attentional frame pooling also attends to frames whose "
        "tokens were all dropped", "models/frame_attn_masked")
def _(port):
    M.video_tower = kw(video_tower, frame_attn_skip_empty=False)


# ---- text tower ----------------------------------------------------------------------------------

@mutant("text_pool_padding", "text mean pooling over the padding tokens too",
        "models/* act.text_emb")
def _(port):
    M.text_tower = kw(text_tower, pool="all")


@mutant("text_keys_unmasked", "padding keys not masked in the text attention",
        "models/* act.text_emb")
def _(port):
    M.text_tower = kw(text_tower, key_mask=False)


@mutant("cls_mean_pooled", "the class token prepended but the video tower mean-pooled over "
        "all its rows instead of taking the class row", "models/clip_vision act.video_emb")
def _(port):
    M.video_tower = kw(video_tower, cls_pool="mean")


@mutant("bert_pre_ln", "BERT's layers run as pre-LN blocks (x += f(LN x)) instead of post-LN "
        "(x = LN(x + f(x)))", "models/bert_text act.text_emb")
def _(port):
    M.text_tower = kw(text_tower, bert_layers="pre")


@mutant("bert_no_embed_ln", "BERT without the LayerNorm on its embeddings",
        "models/bert_text act.text_emb")
def _(port):
    M.text_tower = kw(text_tower, embed_ln=False)


@mutant("bert_cls_last", "text [CLS] pooling from the last valid token (CLIP's end-of-text "
        "habit) instead of position 0", "models/bert_text act.text_emb")
def _(port):
    M.text_tower = kw(text_tower, cls_row=-1)


@mutant("no_l2_normalise", "embeddings not L2-normalised before the logits",
        "models/* act.*_emb")
def _(port):
    M.l2_normalise = lambda x: x


# ---- InfoNCE -------------------------------------------------------------------------------------

@mutant("infonce_no_max", "InfoNCE's log-sum-exp without max subtraction (fp32 exp overflows "
        "above 88)", "kernels/infonce_peaked")
def _(port):
    M.info_nce = kw(info_nce, stable=False)


@mutant("infonce_one_direction", "InfoNCE video->text only (not the mean of both directions)",
        "kernels/infonce_odd; models/* loss")
def _(port):
    M.info_nce = kw(info_nce, directions=1)


@mutant("no_logit_clamp", "logit scale exp(s) not clamped at 100", "kernels/infonce_clamped")
def _(port):
    M.info_nce = kw(info_nce, clamp=None)


@mutant("clamp_50", "logit scale clamped at 50 instead of 100",
        "kernels/infonce_clamped (log-scale log 200)")
def _(port):
    M.info_nce = kw(info_nce, clamp=50.0)


@mutant("temperature_twice", "the logit scale (temperature) applied twice",
        "kernels/infonce_*; models/* act.logits")
def _(port):
    M.info_nce = kw(info_nce, scale_twice=True)


@mutant("logit_scale_no_exp", "the log-scale s used as the multiplier instead of exp(s)",
        "kernels/infonce_*; models/* act.logits")
def _(port):
    M.info_nce = kw(info_nce, use_exp=False)


# ---- cross-entropy (the language model's loss) ----------------------------------------------------

@mutant("ce_mean_all_rows", "cross-entropy averaged over every row instead of the counted "
        "ones (ignored rows add 0 but still divide)", "kernels/cross_entropy_ignore, _wide")
def _(port):
    port.KERNELS["cross_entropy"] = kw(k_cross_entropy, count="all")


@mutant("ce_no_max", "cross-entropy's log-sum-exp without max subtraction (fp32 exp overflows "
        "above 88, underflows below -103)", "kernels/cross_entropy_peaked")
def _(port):
    port.KERNELS["cross_entropy"] = kw(k_cross_entropy, stable=False)


@mutant("ce_empty_nan", "cross-entropy divided by the count unguarded: NaN (0/0) when every "
        "target is ignored, as F.cross_entropy's mean gives", "kernels/cross_entropy_all_ignored")
def _(port):
    port.KERNELS["cross_entropy"] = kw(k_cross_entropy, empty="nan")


# ---- the video-to-text stage ---------------------------------------------------------------------

@mutant("lm_not_causal", "the decoder LM's self-attention without its causal mask (each row "
        "also reads the tokens it is to predict)", "models/v2t, v2t_lm act.logits, loss")
def _(port):
    V.lm_logits = kw(v2t_lm_logits, causal=False)


@mutant("xattn_gate_no_tanh", "the cross-attention layers' gates applied as they are instead of "
        "through tanh", "models/v2t act.logits, grad.xattn.*")
def _(port):
    V.gated_xattn = kw(v2t_gated_xattn, gate=lambda a: a)


@mutant("pool_all_frames", "temporal pooling divided by every time step instead of the kept "
        "tokens at that position", "models/v2t act.visual")
def _(port):
    V.temporal_pool = kw(v2t_temporal_pool, count="all")


@mutant("resampler_no_latent_keys", "the resampler's keys and values from the visual tokens "
        "alone (Flamingo's latents not appended)", "models/v2t act.media")
def _(port):
    V.resampler = kw(v2t_resampler, latent_keys=False)


# ---- the optimiser -------------------------------------------------------------------------------

def _entry(eps_in_sqrt=False, bias_correction=True, coupled=False, betas_swapped=False):
    def adamw_entry(x, g, m, v, lr, keep, beta1, beta2, eps, bc1, bc2):
        if betas_swapped:
            beta1, beta2 = beta2, beta1
        if not bias_correction:
            bc1 = bc2 = 1.0
        if coupled:                        # L2 in the gradient: g + wd x, no decoupled decay
            g = g + ((1.0 - keep) / lr) * x
            keep = 1.0
        x = x * keep
        m = m * beta1 + (1.0 - beta1) * g
        v = v * beta2 + (1.0 - beta2) * g * g
        denom = torch.sqrt(v / bc2 + eps) if eps_in_sqrt else torch.sqrt(v) / math.sqrt(bc2) + eps
        return x - (lr / bc1) * (m / denom), m, v
    return adamw_entry


@mutant("adamw_decay_all", "weight decay on every tensor (biases, LayerNorm, gates, "
        "embeddings too)", "models/* after.*, steps.loss (weight decay 1.0 in the model cases)")
def _(port):
    port.decays = lambda name, settings: True


@mutant("adamw_coupled_l2", "coupled L2 (wd x added to the gradient) instead of decoupled "
        "weight decay", "kernels/adamw_update_first; models/* after.*")
def _(port):
    port.adamw_entry = _entry(coupled=True)


@mutant("adam_eps_in_sqrt", "Adam's eps inside the square root", "kernels/adamw_update_*; "
        "models/* after.*")
def _(port):
    port.adamw_entry = _entry(eps_in_sqrt=True)


@mutant("adam_no_bias_correction", "Adam without bias correction", "kernels/adamw_update_*; "
        "models/* after.*")
def _(port):
    port.adamw_entry = _entry(bias_correction=False)


@mutant("adam_bias_t_off_by_one", "bias correction with t = s + 2 (counted from 1 twice)",
        "models/* after.*")
def _(port):
    orig = port.bias_corrections
    port.bias_corrections = lambda t, b1, b2: orig(t + 1, b1, b2)


@mutant("adam_betas_swapped", "beta1 and beta2 swapped", "kernels/adamw_update_*; models/*")
def _(port):
    port.adamw_entry = _entry(betas_swapped=True)


@mutant("clip_per_tensor", "gradient clipping per tensor instead of by the global norm",
        "models/* after.*, steps.loss")
def _(port):
    def clip(grads, norm, c):
        for g in grads.values():
            n = math.sqrt(port.sum_squares(g))
            if c > 0 and n > c:
                g.mul_(float(torch.tensor(c / n, dtype=torch.float32)))
    port.clip_gradients = clip


@mutant("no_clip", "no gradient clipping", "models/* after.*")
def _(port):
    port.clip_gradients = lambda grads, norm, c: None


@mutant("no_zero_grad", "gradients not zeroed between steps (accumulated)",
        "models/* steps.grad_norm, steps.grad.*")
def _(port):
    port.zero_grads = lambda p, trainable: None
