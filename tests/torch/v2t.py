"""An independent PyTorch model of the video-to-text stage (docs/video-to-text.md; the choices where the
paper is silent are docs/video-to-text.md's, each marked "docs:" below), to cross-check the C
reference's golden cases of that stage.

Nothing here is translated from ref/v2t.c: the encoder is model.py's video tower, the rest is
written from Flamingo / OpenFlamingo's description with torch.nn.functional. Parameter names
follow the C descriptor table so golden files load by name. forward(params, ...) is a pure
function, so autograd, fp32 and fp64 runs work on the same dict.
"""
import math

import torch
import torch.nn.functional as F

import model as M


def encoder_tokens(p, cfg, video, kept):
    """The frozen video tower's last-layer tokens: its final LayerNorm's output over the kept
    tokens (B, K, Dv) (docs: the class token, with pool=cls, left out)."""
    _, acts = M.video_tower(p, cfg, video, kept)
    x = acts[f"act.block.{cfg['layers'] - 1}"]
    x = M.layer_norm(p, "video.ln_final", x, cfg["ln_eps"])
    return x[:, 1:] if cfg["pool"] == "cls" else x


def temporal_pool(x, kept, P):
    """The mean over time per spatial position n % P of the kept tokens (docs/video-to-text.md), and which
    positions kept any (an empty one is 0 and never attended)."""
    onehot = F.one_hot(kept % P, P).to(x.dtype)                   # (B, K, P)
    count = onehot.sum(1)                                         # (B, P)
    pooled = (onehot.transpose(1, 2) @ x) / count.clamp_min(1)[..., None]
    return pooled, count > 0


def attend(q_in, kv_in, wq, wkv, wo, heads, head_dim, key_ok=None, causal=False):
    """Multi-head attention of q_in (B, Nq, C) over kv_in (B, Nk, Ckv), no biases (docs:
    OpenFlamingo), keys masked by key_ok (B, Nk); causal: query i sees keys j <= i."""
    B, Nq, _ = q_in.shape
    Nk = kv_in.shape[1]
    inner = heads * head_dim
    q = F.linear(q_in, wq).reshape(B, Nq, heads, head_dim).transpose(1, 2)
    k, v = (t.reshape(B, Nk, heads, head_dim).transpose(1, 2)
            for t in F.linear(kv_in, wkv).split(inner, dim=-1))
    s = q @ k.transpose(-1, -2) / math.sqrt(head_dim)
    ok = torch.ones(B, Nq, Nk, dtype=torch.bool)
    if key_ok is not None:
        ok = ok & key_ok[:, None, :]
    if causal:
        ok = ok & torch.ones(Nq, Nk, dtype=torch.bool).tril()[None]
    s = s.masked_fill(~ok[:, None], float("-inf"))
    y = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, Nq, inner)
    return F.linear(y, wo)


def feed_forward(p, prefix, x, eps):
    """OpenFlamingo's FeedForward: LayerNorm, Linear(d, 4d, no bias), GELU, Linear(4d, d)."""
    h = M.layer_norm(p, prefix + ".ln", x, eps)
    return F.linear(M.gelu(F.linear(h, p[prefix + ".fc1.weight"])), p[prefix + ".fc2.weight"])


def resampler(p, cfg, visual, visual_ok):
    """The Perceiver resampler: learned latents; per layer latents += attention(LN_l latents,
    [LN_m visual; LN_l latents]) then latents += FFN(latents); a final LayerNorm."""
    B = visual.shape[0]
    eps = cfg["ln_eps"]
    lat = p["resampler.latents"][None].expand(B, -1, -1)
    Lq = lat.shape[1]
    key_ok = torch.cat([visual_ok, torch.ones(B, Lq, dtype=torch.bool)], 1)
    for l in range(cfg["rs_depth"]):
        pre = f"resampler.layers.{l}"
        xm = M.layer_norm(p, pre + ".ln_media", visual, eps)
        xl = M.layer_norm(p, pre + ".ln_latents", lat, eps)
        lat = lat + attend(xl, torch.cat([xm, xl], 1), p[pre + ".q.weight"],
                           p[pre + ".kv.weight"], p[pre + ".out.weight"], cfg["rs_heads"],
                           cfg["rs_head_dim"], key_ok)
        lat = lat + feed_forward(p, pre + ".ff", lat, eps)
    return M.layer_norm(p, "resampler.ln", lat, eps)


def gated_xattn(p, j, x, media, cfg):
    """Flamingo's gated cross-attention dense block: x += tanh(a) xattn(LN x, media);
    x += tanh(b) FFN(x); every text row reads all of its sample's latents."""
    pre = f"xattn.{j}"
    h = M.layer_norm(p, pre + ".ln", x, cfg["ln_eps"])
    a = attend(h, media, p[pre + ".q.weight"], p[pre + ".kv.weight"], p[pre + ".out.weight"],
               cfg["xattn_heads"], cfg["xattn_head_dim"])
    x = x + torch.tanh(p[pre + ".attn_gate"].reshape(())) * a
    return x + torch.tanh(p[pre + ".ff_gate"].reshape(())) * feed_forward(p, pre + ".ff", x,
                                                                         cfg["ln_eps"])


def lm_logits(p, cfg, ids, valid, media=None):
    """The decoder LM, GPT-2 shape: token + learned positions, pre-LN blocks with causal
    self-attention over the valid tokens, a gated cross-attention layer before every
    xattn_every-th block when there is media, final LayerNorm, tied output embedding."""
    B, T = ids.shape
    x = p["lm.token_embed"][ids] + p["lm.pos_embed"][:T][None]
    allowed = valid[:, None, :] & torch.ones(T, T, dtype=torch.bool).tril()[None]
    act = M.activation(cfg["lm_act"])
    for l in range(cfg["lm_layers"]):
        if media is not None and l % cfg["xattn_every"] == 0:
            x = gated_xattn(p, l // cfg["xattn_every"], x, media, cfg)
        x = M.block(p, f"lm.blocks.{l}", x, allowed, cfg["lm_heads"], cfg, act=act,
                    eps=cfg["ln_eps"])
    x = M.layer_norm(p, "lm.ln_final", x, cfg["ln_eps"])
    return x @ p["lm.token_embed"].T


def next_token_loss(logits, targets):
    """Cross-entropy over the rows with a target (>= 0), their mean."""
    keep = targets >= 0
    return F.cross_entropy(logits[keep], targets[keep])


def forward(p, cfg, video, ids, targets, valid, kept, lm_only=False):
    """The stage: returns the loss and the activations the golden cases hold."""
    acts = {}
    media = None
    if not lm_only:
        P = M.tokenizers(cfg)[0].P
        visual, ok = temporal_pool(encoder_tokens(p, cfg, video, kept), kept, P)
        acts["act.visual"] = visual.reshape(-1, visual.shape[-1])
        media = resampler(p, cfg, visual, ok)
        acts["act.media"] = media.reshape(-1, media.shape[-1])
    logits = lm_logits(p, cfg, ids, valid, media)
    acts["act.logits"] = logits.reshape(-1, logits.shape[-1])
    loss = next_token_loss(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    acts["loss"] = loss.reshape(1)
    return loss, acts


def media_of(p, cfg, video, kept):
    """The media (B, Lq, Dv) of videos given their kept tokens."""
    P = M.tokenizers(cfg)[0].P
    visual, ok = temporal_pool(encoder_tokens(p, cfg, video, kept), kept, P)
    return resampler(p, cfg, visual, ok)


def greedy_decode(p, cfg, prompt, n_new, media=None):
    """Greedy decoding (docs: beam 1, no end token, no length normalisation): n_new times the
    argmax of the last position's logits is appended to the sequence, which the LM reads whole
    again each time (no key/value cache). prompt: (n,) ids; media: (1, Lq, Dv) or None. Returns
    the new ids and, per step, the gap between the two largest logits (how far from a tie)."""
    ids = [int(t) for t in prompt]
    gaps = []
    with torch.no_grad():
        for _ in range(n_new):
            x = torch.tensor([ids])
            logits = lm_logits(p, cfg, x, torch.ones_like(x, dtype=torch.bool), media)[0, -1]
            top = torch.topk(logits, 2).values
            gaps.append(float(top[0] - top[1]))
            ids.append(int(torch.argmax(logits)))
    return ids[len(prompt):], gaps
