"""An independent PyTorch model of LongViViT (tiny preset, every variant), written from
docs/model.md (the method, component by component) with torch.nn.functional, to
cross-check the C reference.

Nothing here is translated from ref/*.c. Parameter names follow the C descriptor table so the
golden files load by name; the maths follows docs/model.md; where the paper is silent the choice made
is the one written in docs/model.md (each such place is marked "docs:" below).

The model is a pure function forward(params, inputs) -> (loss, activations); params is a dict
name -> tensor, so autograd, fp32 and fp64 runs and the optimiser all work on the same dict.
"""
import math

import torch
import torch.nn.functional as F


# ---- configuration ---------------------------------------------------------------------------

_INT_KEYS = ("frames", "image_size", "tubelet_t", "patch", "width", "layers", "heads",
             "mlp_ratio", "vocab", "text_len", "text_width", "text_layers", "text_heads",
             "embed_dim", "tune_last_k", "freeze_text", "adapter_dim", "lora_rank", "seed",
             "lm_vocab", "lm_ctx", "lm_width", "lm_layers", "lm_heads", "rs_latents", "rs_depth",
             "rs_heads", "rs_head_dim", "xattn_every", "xattn_heads", "xattn_head_dim")
_REAL_KEYS = ("mask_ratio", "ln_eps", "text_ln_eps", "lora_alpha", "v2t_mask_ratio")
# keys added after the first golden files: a config text without them means these
_DEFAULTS = {"act": "gelu", "pool": "mean", "text_arch": "pre-ln", "text_act": "gelu",
             "text_pool": "mean"}


def parse_config(text):
    """The "config" metadata text: key=value lines (as `longvivit train --dry-run` prints)."""
    cfg = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if key in _INT_KEYS:
            cfg[key] = int(value)
        elif key in _REAL_KEYS:
            cfg[key] = float(value)
        else:
            cfg[key] = value
    for key, value in _DEFAULTS.items():
        cfg.setdefault(key, value)
    cfg.setdefault("text_ln_eps", cfg.get("ln_eps", 1e-5))
    cfg["tube_specs"] = _parse_tubes(cfg.get("tubes", "none"))
    return cfg


def _parse_tubes(text):
    """'none' or up to four kt.kh.kw/st.sh.sw/ot.oh.ow separated by commas (kernel, stride,
    offset in time, height, width): the TubeViT-style tokenizer (docs/model.md)."""
    if text in ("none", ""):
        return []
    specs = []
    for item in text.split(","):
        k, s, o = (tuple(int(x) for x in part.split(".")) for part in item.split("/"))
        specs.append((k, s, o))
    return specs


class Tokenizer:
    """One strided 3D patchifier: kernel (kt, kh, kw), stride, offset, over an F x S x S video.
    Its tokens are numbered n = (t * Hp + y) * Wp + x (time-major), so n // P is the time
    index and n % P the spatial position (P = Hp * Wp) (docs/kernels.md "Token numbering")."""

    def __init__(self, kernel, stride, offset, frames, size, w=None, b=None, spatial=None,
                 temporal=None):
        """size: S (square frames) or (H, W)."""
        self.kernel, self.stride, self.offset = kernel, stride, offset
        (kt, kh, kw), (st, sh, sw), (ot, oh, ow) = kernel, stride, offset
        height, width = (size, size) if isinstance(size, int) else size
        self.Ft = (frames - ot - kt) // st + 1
        self.Hp = (height - oh - kh) // sh + 1
        self.Wp = (width - ow - kw) // sw + 1
        self.P = self.Hp * self.Wp
        self.N = self.Ft * self.P
        self.names = (w, b, spatial, temporal)

    def patches(self, video):
        """video (B, F, S, S, C) -> (B, N, kt*kh*kw*C), each voxel flattened in (dt, dy, dx, c)
        order, the order of the tubelet kernel's columns (ref/params.h)."""
        (kt, kh, kw), (st, sh, sw), (ot, oh, ow) = self.kernel, self.stride, self.offset
        v = video[:, ot:, oh:, ow:, :]
        v = v.unfold(1, kt, st).unfold(2, kh, sh).unfold(3, kw, sw)  # B,Ft,Hp,Wp,C,kt,kh,kw
        v = v[:, :self.Ft, :self.Hp, :self.Wp]
        v = v.permute(0, 1, 2, 3, 5, 6, 7, 4)                       # B,Ft,Hp,Wp,kt,kh,kw,C
        return v.reshape(v.shape[0], self.N, -1)

    def embed(self, p, video):
        """Tokens (B, N, D) and their position embeddings (N, D) = spatial[n % P] +
        temporal[n // P] (docs/model.md; a frame-level tokenizer has no temporal table)."""
        w, b, spatial, temporal = self.names
        tokens = F.linear(self.patches(video), p[w], p[b])
        n = torch.arange(self.N)
        pos = p[spatial][n % self.P]
        if temporal is not None:
            pos = pos + p[temporal][n // self.P]
        return tokens, pos


def tokenizers(cfg):
    """The video tokenizers of a configuration (docs/model.md and the names of ref/params.c's table):
    frame-level: the 2D patch kernel (1 x p x p) on every frame, spatial positions only;
    TubeViT-style: one tokenizer per tube kind, each with its own projection and tables;
    otherwise one t x p x p tubelet grid with spatial + temporal tables."""
    Fr, S, p = cfg["frames"], cfg["image_size"], cfg["patch"]
    if cfg["attn"] == "frame":
        return [Tokenizer((1, p, p), (1, p, p), (0, 0, 0), Fr, S, "video.patch.weight",
                          "video.patch.bias", "video.pos.spatial", None)]
    if cfg["tube_specs"]:
        return [Tokenizer(k, s, o, Fr, S, f"video.tubes.{j}.weight", f"video.tubes.{j}.bias",
                          f"video.tubes.{j}.pos.spatial", f"video.tubes.{j}.pos.temporal")
                for j, (k, s, o) in enumerate(cfg["tube_specs"])]
    t = cfg["tubelet_t"]
    return [Tokenizer((t, p, p), (t, p, p), (0, 0, 0), Fr, S, "video.tubelet.weight",
                      "video.tubelet.bias", "video.pos.spatial", "video.pos.temporal")]


# ---- layers ----------------------------------------------------------------------------------

def gelu(x):
    return F.gelu(x)   # the exact erf form, x/2 (1 + erf(x/sqrt 2)) (docs/model.md)


def quick_gelu(x):
    # OpenAI CLIP's activation (torch's sigmoid saturates to 0 and 1 without overflow)
    return x * torch.sigmoid(1.702 * x)


def gelu_tanh(x):
    # GPT-2's activation ("gelu_new"), GELU's tanh approximation:
    # x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    return F.gelu(x, approximate="tanh")


def activation(name):
    """The MLP activation a config names (act=, text_act=, lm_act=)."""
    return {"gelu": gelu, "quick_gelu": quick_gelu, "gelu_tanh": gelu_tanh}[name]


def layer_norm(p, prefix, x, eps):
    return F.layer_norm(x, (x.shape[-1],), p[prefix + ".weight"], p[prefix + ".bias"], eps)


def linear(p, prefix, x, cfg, lora):
    """x W^T + b, plus LoRA's (alpha / r) B (A x) when the variant has LoRA on this matrix
    (docs/model.md; docs: scale alpha / r)."""
    y = F.linear(x, p[prefix + ".weight"], p.get(prefix + ".bias"))
    if lora and (prefix + ".lora_a") in p:
        scale = cfg["lora_alpha"] / cfg["lora_rank"]
        y = y + scale * F.linear(F.linear(x, p[prefix + ".lora_a"]), p[prefix + ".lora_b"])
    return y


def attention(p, prefix, x, allowed, heads, cfg, lora=False):
    """Multi-head self-attention softmax(q k^T / sqrt(hs)) v within the allowed (B, R, R) pairs,
    fused qkv projection (rows q, k, v, heads contiguous in each), then the output projection."""
    B, R, D = x.shape
    hs = D // heads
    qkv = linear(p, prefix + ".qkv", x, cfg, lora)
    q, k, v = (t.reshape(B, R, heads, hs).transpose(1, 2) for t in qkv.split(D, dim=-1))
    scores = q @ k.transpose(-1, -2) / math.sqrt(hs)
    if allowed is not None:
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    y = torch.softmax(scores, dim=-1) @ v                       # every row has a valid key
    y = y.transpose(1, 2).reshape(B, R, D)
    return linear(p, prefix + ".proj", y, cfg, lora)


def block(p, prefix, x, allowed, heads, cfg, temporal_allowed=None, lora=False, act=gelu,
          eps=None):
    """Pre-LN block (docs/model.md): x += MHSA(LN x); [factorized: x += tanh(a) temporal(LN_t x)];
    x += MLP(LN x) with the tower's activation; [adapters: x += up(gelu(down x))]."""
    eps = cfg["ln_eps"] if eps is None else eps
    x = x + attention(p, prefix + ".attn", layer_norm(p, prefix + ".ln1", x, eps), allowed,
                      heads, cfg, lora)
    if temporal_allowed is not None:
        # FST: h = h + tanh(alpha) * temporal(h); docs: the temporal block has its own
        # LayerNorm (ln, a copy of ln1 at init) and its own qkv/proj.
        t = attention(p, prefix + ".temporal.attn", layer_norm(p, prefix + ".temporal.ln", x, eps),
                      temporal_allowed, heads, cfg)
        x = x + torch.tanh(p[prefix + ".temporal.gate"]).reshape(()) * t
    h = linear(p, prefix + ".mlp.fc1", layer_norm(p, prefix + ".ln2", x, eps), cfg, lora)
    x = x + linear(p, prefix + ".mlp.fc2", act(h), cfg, lora)
    if (prefix + ".adapter.down.weight") in p:
        a = F.linear(x, p[prefix + ".adapter.down.weight"], p[prefix + ".adapter.down.bias"])
        x = x + F.linear(gelu(a), p[prefix + ".adapter.up.weight"], p[prefix + ".adapter.up.bias"])
    return x


def bert_layer(p, prefix, x, allowed, heads, cfg, act, eps):
    """BERT's post-LN layer: h = LN1(x + MHSA(x)); out = LN2(h + MLP(h)) (the parameter names
    of the pre-LN block: ln1 after attention, ln2 after the MLP)."""
    h = layer_norm(p, prefix + ".ln1", x + attention(p, prefix + ".attn", x, allowed, heads, cfg),
                   eps)
    m = linear(p, prefix + ".mlp.fc2", act(linear(p, prefix + ".mlp.fc1", h, cfg, False)), cfg,
               False)
    return layer_norm(p, prefix + ".ln2", h + m, eps)


def l2_normalise(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


# ---- towers ----------------------------------------------------------------------------------

def video_tower(p, cfg, video, kept):
    """video (B, F, S, S, 3), kept (B, K) ascending token numbers over the concatenation of the
    tokenizers. Returns the L2-normalised embedding (B, E) and the activations."""
    acts = {}
    toks = tokenizers(cfg)
    B, K = kept.shape
    tokens, pos = zip(*(t.embed(p, video) for t in toks))
    tokens, pos = torch.cat(tokens, dim=1), torch.cat(pos, dim=0)       # (B, N, D), (N, D)
    # masking (docs/model.md): dropped tokens never enter the transformer; kept ones keep their
    # position embedding
    idx = kept[:, :, None].expand(B, K, tokens.shape[-1])
    x = torch.gather(tokens, 1, idx)
    acts["act.tokens"] = x
    x = x + pos[kept]
    cls = cfg["pool"] == "cls"
    if cls:
        # CLIP's class token (its position embedding folded in) before each sample's tokens
        c = p["video.class_token"].reshape(1, 1, -1).expand(B, 1, x.shape[-1])
        x = torch.cat([c, x], dim=1)
    acts["act.embedded"] = x
    # docs: CLIP's pre-LayerNorm on the embedded tokens
    x = layer_norm(p, "video.ln_pre", x, cfg["ln_eps"])
    acts["act.ln_pre"] = x

    attn = cfg["attn"]
    same = lambda a: a[:, :, None] == a[:, None, :]                  # (B, K, K)
    if attn == "joint":
        allowed, temporal_allowed = None, None                       # one group per sample
    else:
        P = toks[0].P
        time, space = kept // P, kept % P
        allowed = same(time)      # factorized: spatial attention per time step; frame: per frame
        temporal_allowed = same(space) if attn == "factorized" else None
    lora = cfg["tune"] == "lora"
    act = activation(cfg["act"])
    for l in range(cfg["layers"]):
        x = block(p, f"video.blocks.{l}", x, allowed, cfg["heads"], cfg, temporal_allowed, lora,
                  act)
        acts[f"act.block.{l}"] = x
    x = layer_norm(p, "video.ln_final", x, cfg["ln_eps"])

    if attn == "frame":
        # frame-level baseline: each frame encoded alone (attention per frame above),
        # mean over its tokens, then mean over frames or attentional pooling.
        Fr = cfg["frames"]
        frame = kept // toks[0].P                                     # (B, K)
        onehot = F.one_hot(frame, Fr).to(x.dtype)                     # (B, K, F)
        count = onehot.sum(1)                                         # (B, F)
        frames = (onehot.transpose(1, 2) @ x) / count.clamp_min(1)[..., None]   # (B, F, D)
        present = count > 0
        if cfg["frame_pool"] == "mean":
            # our reading: the mean over the frames that kept a token (all of them unmasked);
            # the C reference agrees (checked on a 90%-masked case with empty frames)
            w = present.to(x.dtype)
            pooled = (w[..., None] * frames).sum(1) / w.sum(1, keepdim=True)
        else:
            # docs: one learned query (used as is), a k/v projection with bias, the tower's head
            # count, no output projection. Our reading: a frame that kept no token (possible
            # under masking) is not attended to, as the mean pooling above skips it. (The C
            # reference attended to it as a zero frame embedding until this model showed the
            # difference; it now skips it too, tests/check_model.c.)
            D, H = x.shape[-1], cfg["heads"]
            hs = D // H
            kv = F.linear(frames, p["video.pool.kv.weight"], p["video.pool.kv.bias"])
            k, v = (t.reshape(B, Fr, H, hs).transpose(1, 2) for t in kv.split(D, dim=-1))
            q = p["video.pool.query"].reshape(1, H, 1, hs)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(hs)        # (B, H, 1, F)
            scores = scores.masked_fill(~present[:, None, None, :], float("-inf"))
            pooled = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, D)
    elif cls:
        pooled = x[:, 0]                                              # the class token's row
    else:
        pooled = x.mean(1)                                            # mean over the kept tokens
    emb = l2_normalise(F.linear(pooled, p["video.proj.weight"], p.get("video.proj.bias")))
    acts["act.video_emb"] = emb
    return emb, acts


def text_tower(p, cfg, text, valid):
    """BERT-style bidirectional pre-LN tower (docs/model.md): token + position embeddings, blocks with
    padding keys masked, final LN, mean over the non-padding tokens, projection, L2 norm.
    text_arch=bert: BERT's own layout, LayerNorm on the embeddings, post-LN layers, no final LN;
    text_pool=cls: the row of position 0 ([CLS]) instead of the mean."""
    B, T = text.shape
    x = p["text.token_embed"][text] + p["text.pos_embed"][:T][None]
    allowed = valid[:, None, :].expand(B, T, T)
    act, eps = activation(cfg["text_act"]), cfg["text_ln_eps"]
    if cfg["text_arch"] == "bert":
        x = layer_norm(p, "text.ln_embed", x, eps)
        for l in range(cfg["text_layers"]):
            x = bert_layer(p, f"text.blocks.{l}", x, allowed, cfg["text_heads"], cfg, act, eps)
    else:
        for l in range(cfg["text_layers"]):
            x = block(p, f"text.blocks.{l}", x, allowed, cfg["text_heads"], cfg, act=act, eps=eps)
        x = layer_norm(p, "text.ln_final", x, eps)
    if cfg["text_pool"] == "cls":
        pooled = x[:, 0]
    else:
        w = valid.to(x.dtype)
        pooled = (w[..., None] * x).sum(1) / w.sum(1, keepdim=True).clamp_min(1)
    return l2_normalise(F.linear(pooled, p["text.proj.weight"], p.get("text.proj.bias")))


def info_nce(v, t, log_scale):
    """Symmetric InfoNCE (docs/model.md): logits = exp(s) V T^T with exp(s) <= 100; the mean of the
    video->text and text->video cross-entropies against the diagonal (log-sum-exp inside
    cross_entropy)."""
    scale = torch.exp(torch.clamp(log_scale.reshape(()), max=math.log(100.0)))
    logits = scale * (v @ t.T)
    target = torch.arange(v.shape[0])
    loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    return loss, logits


def forward(p, cfg, video, text, valid, kept):
    """The whole model: returns the loss and every activation the golden files hold, with the
    per-token ones flattened to (B*K, D) as they are stored."""
    v, acts = video_tower(p, cfg, video, kept)
    t = text_tower(p, cfg, text, valid)
    loss, logits = info_nce(v, t, p["logit_scale"])
    out = {k: (a.reshape(-1, a.shape[-1]) if a.dim() == 3 else a) for k, a in acts.items()}
    out["act.text_emb"] = t
    out["act.logits"] = logits
    out["loss"] = loss.reshape(1)
    return loss, out


# ---- what trains and what decays (docs/model.md, 2.7; docs/model.md for the details) ---------------

def expected_trainable(cfg, names):
    """The trainable set our reading of + docs/model.md gives, from the names."""
    tune, freeze_text = cfg["tune"], cfg.get("freeze_text", 0)
    L, k = cfg["layers"], cfg.get("tune_last_k", 0)

    def video_rule(n):
        if tune == "full":
            return True
        if tune == "last-k":
            # nothing before the last k blocks trains (tokenizers, positions, class token,
            # ln_pre: stage 1 trained them); the head after them does
            if n.startswith("video.blocks."):
                return int(n.split(".")[2]) >= L - k
            return (n.startswith("video.ln_final.") or n == "video.proj.weight"
                    or n.startswith("video.pool."))
        new = (n.startswith("video.tubelet.") or n == "video.pos.temporal"
               or n.startswith("video.tubes."))
        if tune == "adapters":
            return new or ".adapter." in n
        if tune == "lora":
            return new or ".lora_" in n
        if tune == "temporal":
            return new or ".temporal." in n
        raise ValueError(f"unknown tune={tune}")

    out = set()
    for n in names:
        if n == "logit_scale":
            out.add(n)
        elif n.startswith("text."):
            if not freeze_text:                   # docs: the text tower per freeze_text
                out.add(n)
        elif n.startswith("video.") and video_rule(n):
            out.add(n)
    return out


def expected_decay(name, shape):
    """decoupled weight decay, not on biases, LayerNorm, gates, embeddings (and the
    log-scale): the 2D weight matrices of linear maps (LoRA factors included)."""
    if name.endswith(".lora_a") or name.endswith(".lora_b"):
        return True
    return name.endswith(".weight") and len(shape) == 2
