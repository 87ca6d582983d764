#!/usr/bin/python3
"""The PyTorch peer of `longvivit bench`: the same LongViViT training step (video tower, text
tower, symmetric InfoNCE, backward, global-norm clipping, AdamW), written the way one writes it
in PyTorch, timed step by step on the CPU or, with --device cuda, on the GPU (TF32 off, as our
cuda backend runs cuBLAS in pedantic fp32; attention through scaled_dot_product_attention there).

Run it with Debian's interpreter (python3-torch): /usr/bin/python3 tools/bench_torch.py --help.
The sizes come from `longvivit train --dry-run` (so `--preset` and `--set` mean exactly what they
mean to our program); without the program, from the presets copied out of ref/config.c.
The environment (GLIBC_TUNABLES, OMP_NUM_THREADS, OPENBLAS_CORETYPE) is the caller's business:
tools/bench.sh sets it; this script only calls torch.set_num_threads when --threads is given.
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ref/config.c, lv_config_preset: frames, image_size, patch, width, layers, heads, vocab,
# text_len, text_width, text_layers, text_heads, embed_dim (and set_common's defaults)
PRESETS = {
    "tiny": (8, 32, 8, 32, 2, 2, 64, 12, 32, 2, 2, 16),
    "vit-s": (16, 224, 16, 384, 12, 6, 30522, 32, 512, 4, 8, 384),
    "vit-b": (16, 224, 16, 768, 12, 12, 30522, 32, 512, 8, 8, 512),
    "vit-l": (16, 224, 16, 1024, 24, 16, 30522, 32, 768, 12, 12, 768),
    "1b": (16, 224, 16, 1280, 32, 16, 30522, 32, 1024, 24, 16, 1024),
}
PRESET_KEYS = ("frames", "image_size", "patch", "width", "layers", "heads", "vocab", "text_len",
               "text_width", "text_layers", "text_heads", "embed_dim")
INT_KEYS = PRESET_KEYS + ("tubelet_t", "mlp_ratio")


def builtin_config(args):
    if args.preset not in PRESETS:
        sys.exit(f"bench_torch: unknown preset '{args.preset}': {', '.join(PRESETS)}")
    c = dict(zip(PRESET_KEYS, PRESETS[args.preset]))
    c.update(tubelet_t=2, mlp_ratio=4, ln_eps=1e-5, attn="joint", mask="random", tubes="none",
             mask_ratio=0.0)
    for kv in args.set:
        k, _, v = kv.partition("=")
        if k not in c:
            sys.exit(f"bench_torch: --set {kv}: without the longvivit program only "
                     f"{', '.join(sorted(c))} can be set")
        c[k] = int(v) if k in INT_KEYS else float(v) if k in ("ln_eps", "mask_ratio") else v
    if args.frames is not None:
        c["frames"] = args.frames
    if args.mask is not None:
        c["mask_ratio"] = args.mask
    return c, "built-in presets (ref/config.c)"


def probed_config(args):
    """The configuration as our program resolves it: `longvivit train --dry-run` prints it."""
    cmd = [args.longvivit, "train", "--dry-run", "--preset", args.preset]
    for kv in args.set:
        cmd += ["--set", kv]
    if args.frames is not None:
        cmd += ["--frames", str(args.frames)]
    if args.mask is not None:
        cmd += ["--mask", str(args.mask)]
    cmd += ["--batch", str(args.batch)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench_torch: {' '.join(cmd)} failed: {r.stderr.strip() or r.stdout.strip()}")
    c, in_config = {}, False
    for line in r.stdout.splitlines():
        if line == "configuration":
            in_config = True
        elif in_config and "=" in line and not line.startswith(" "):
            k, _, v = line.partition("=")
            c[k] = int(v) if k in INT_KEYS else v
        elif in_config:
            in_config = False
        if line.startswith("tokens per video:"):
            c["_kept"] = int(line.rsplit(":", 1)[1])
    c["ln_eps"] = float(c["ln_eps"])
    c["mask_ratio"] = float(c["mask_ratio"])
    return c, f"{os.path.relpath(args.longvivit, ROOT)} train --dry-run"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="vit-s")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, as `longvivit --set` (width, layers, heads, ...)")
    p.add_argument("--frames", type=int)
    p.add_argument("--mask", type=float, help="mask ratio R: keep round((1-R) N) tokens")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: as torch has it)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where the model, the inputs and the step run (default: cpu); cuda: the "
                        "first visible GPU, TF32 off, attention by scaled_dot_product_attention, "
                        "the JSON adds max_memory_allocated_mib")
    p.add_argument("--mem-limit-gib", type=float,
                   help="RLIMIT_AS, so running out of memory is an error, not the OOM killer "
                        "(0: no limit; default 22 on cpu, 0 on cuda: CUDA needs the address space)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--wd", type=float, default=0.05)
    p.add_argument("--clip", type=float, default=1.0, help="global gradient norm clip (0: off)")
    p.add_argument("--no-foreach", action="store_true",
                   help="AdamW one tensor at a time (default: foreach, about 2x faster on CPU)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--longvivit", default=os.environ.get("LONGVIVIT",
                                                         os.path.join(ROOT, "build", "longvivit")),
                   help="our program, asked for the resolved configuration")
    p.add_argument("--builtin", action="store_true",
                   help="use the built-in presets even where the program exists")
    p.add_argument("--bf16", action="store_true",
                   help="the forward under torch.autocast(bfloat16): bf16 matmuls with fp32 "
                        "weights, optimiser and loss (PyTorch's CPU mixed precision; the "
                        "counterpart of longvivit's --precision bf16)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.mem_limit_gib is None:
        args.mem_limit_gib = 22.0 if args.device == "cpu" else 0.0
    return args


def main():
    args = parse_args()
    import torch  # noqa: E402  (after argparse, so --help is instant)
    import torch.nn as nn
    import torch.nn.functional as F

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        why = (f"this torch ({torch.__version__}) is built without CUDA"
               if torch.version.cuda is None else
               f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU: "
               f"torch.cuda.is_available() is False (no NVIDIA driver or device; "
               f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
        print(f"bench_torch: --device cuda needs a CUDA GPU that torch can use: {why}; "
              f"run it with a CUDA build of torch on a machine with an NVIDIA GPU, or use "
              f"--device cpu", file=sys.stderr)
        sys.exit(2)
    if cuda:
        # the C port runs cuBLAS in pedantic fp32: no TF32 here either
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        if hasattr(torch, "set_float32_matmul_precision"):
            torch.set_float32_matmul_precision("highest")
    # explicit q k^T softmax on cpu (the figures in docs/performance.md); on cuda the fused
    # kernel: at ViT-B, 6272 tokens, batch 8 the explicit score matrices alone would be ~180 GB
    sdpa = cuda and hasattr(F, "scaled_dot_product_attention")
    if cuda and not sdpa:
        print(f"bench_torch: torch {torch.__version__} has no scaled_dot_product_attention: "
              f"explicit attention on cuda (B H K^2 floats per layer)", file=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    use_program = not args.builtin and os.access(args.longvivit, os.X_OK)
    c, source = probed_config(args) if use_program else builtin_config(args)
    # the limit is for this process's tensors, set after the probe: a child would inherit it
    # (a sanitizer build of the program reserves terabytes of address space for its shadow)
    if args.mem_limit_gib > 0:
        if cuda:
            print(f"bench_torch: --mem-limit-gib {args.mem_limit_gib:g} with --device cuda: an "
                  f"address-space limit can break CUDA's initialization (0: off)", file=sys.stderr)
        lim = int(args.mem_limit_gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    if c["attn"] != "joint" or c["tubes"] != "none" or c["mask"] != "random":
        sys.exit("bench_torch: only attn=joint, tubes=none, mask=random (the benchmarked model)")
    B = args.batch
    S, p, t = c["image_size"], c["patch"], c["tubelet_t"]
    Fr, D, L, H = c["frames"], c["width"], c["layers"], c["heads"]
    Ft, Hp = Fr // t, S // p
    P, N = Hp * Hp, (Fr // t) * Hp * Hp
    K = max(1, int(math.floor((1.0 - c["mask_ratio"]) * N + 0.5)))   # C's round(): half up
    if "_kept" in c and c["_kept"] != K:
        sys.exit(f"bench_torch: kept tokens {K} differ from the program's {c['_kept']}")
    T, Dt = c["text_len"], c["text_width"]
    E, eps, mlp = c["embed_dim"], c["ln_eps"], c["mlp_ratio"]

    class Block(nn.Module):
        """Pre-LN transformer block: x += proj(MHSA(ln1 x)); x += fc2(gelu(fc1(ln2 x)))."""

        def __init__(self, d, heads):
            super().__init__()
            self.h = heads
            self.ln1 = nn.LayerNorm(d, eps=eps)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d, eps=eps)
            self.fc1 = nn.Linear(d, mlp * d)
            self.fc2 = nn.Linear(mlp * d, d)

        def forward(self, x, key_bias=None):
            b, n, d = x.shape
            hd = d // self.h
            qkv = self.qkv(self.ln1(x)).view(b, n, 3, self.h, hd).permute(2, 0, 3, 1, 4)
            if sdpa:                                                  # scale 1/sqrt(hd)
                y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=key_bias)
            else:
                q, k, v = qkv[0] * (hd ** -0.5), qkv[1], qkv[2]      # (b, h, n, hd)
                s = q @ k.transpose(-2, -1)                           # (b, h, n, n)
                if key_bias is not None:
                    s = s + key_bias
                y = s.softmax(dim=-1) @ v
            y = y.transpose(1, 2).reshape(b, n, d)
            x = x + self.proj(y)
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))       # exact (erf) GELU

    def init_(module):
        for m in module.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    class VideoTower(nn.Module):
        """Joint space-time ViViT over the kept tubelets, CLIP-style ln_pre, mean pool."""

        def __init__(self):
            super().__init__()
            self.tubelet = nn.Linear(t * p * p * 3, D)               # the Conv3d as a matmul
            self.pos_spatial = nn.Parameter(torch.randn(P, D) * 0.02)
            self.pos_temporal = nn.Parameter(torch.zeros(Ft, D))     # separable: s[h,w] + t[t]
            self.ln_pre = nn.LayerNorm(D, eps=eps)
            self.blocks = nn.ModuleList(Block(D, H) for _ in range(L))
            self.ln_final = nn.LayerNorm(D, eps=eps)
            self.proj = nn.Linear(D, E, bias=False)
            init_(self)

        def forward(self, video, kept):
            # video (B, F, S, S, 3) channels-last; kept (B, K) token ids, ascending,
            # token n = (time ft, row hp, column wp) with n = ft P + hp Hp + wp
            b = video.shape[0]
            grid = video.view(b, Ft, t, Hp, p, Hp, p, 3)
            ft, sp = kept // P, kept % P
            bi = torch.arange(b, device=video.device).unsqueeze(1)
            # gather only the kept voxels: (B, K, t, p, p, 3), voxel order (dt, dy, dx, c)
            vox = grid[bi, ft, :, sp // Hp, :, sp % Hp, :, :].reshape(b, K, -1)
            x = self.tubelet(vox) + self.pos_spatial[sp] + self.pos_temporal[ft]
            x = self.ln_pre(x)
            for blk in self.blocks:
                x = blk(x)
            pooled = self.ln_final(x).mean(dim=1)
            return F.normalize(self.proj(pooled), dim=-1)

    class TextTower(nn.Module):
        """BERT-style: token + position embedding, blocks (padding keys masked), final LN,
        mean over the valid tokens."""

        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(c["vocab"], Dt)
            self.pos = nn.Parameter(torch.randn(T, Dt) * 0.02)
            self.blocks = nn.ModuleList(Block(Dt, c["text_heads"]) for _ in range(c["text_layers"]))
            self.ln_final = nn.LayerNorm(Dt, eps=eps)
            self.proj = nn.Linear(Dt, E, bias=False)
            init_(self)
            nn.init.normal_(self.tok.weight, std=0.02)

        def forward(self, ids, valid):
            x = self.tok(ids) + self.pos
            key_bias = torch.zeros(valid.shape, dtype=x.dtype, device=x.device)
            key_bias = key_bias.masked_fill_(~valid, -math.inf)
            key_bias = key_bias[:, None, None, :]
            for blk in self.blocks:
                x = blk(x, key_bias)
            w = valid.to(x.dtype).unsqueeze(-1)
            pooled = (self.ln_final(x) * w).sum(dim=1) / w.sum(dim=1)
            return F.normalize(self.proj(pooled), dim=-1)

    class LongViViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.video = VideoTower()
            self.text = TextTower()
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

        def forward(self, video, kept, ids, valid):
            v, tx = self.video(video, kept), self.text(ids, valid)
            scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
            logits = scale * v @ tx.t()
            target = torch.arange(v.shape[0], device=v.device)
            return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))

    out = {"impl": "torch", "torch_version": torch.__version__, "threads": torch.get_num_threads(),
           "precision": "bf16 autocast" if args.bf16 else "fp32",
           "preset": args.preset, "sets": args.set, "config_source": source, "width": D,
           "layers": L, "heads": H, "frames": Fr, "image_size": S, "patch": p, "tubelet_t": t,
           "text_len": T, "text_width": Dt, "text_layers": c["text_layers"],
           "text_heads": c["text_heads"], "embed_dim": E, "mask": c["mask_ratio"], "tokens": N,
           "kept_tokens": K, "batch": B, "warmup": args.warmup, "steps": args.steps,
           "ms_per_step": None, "ms_all": [], "tokens_per_s": None, "peak_rss_mib": None,
           "params": None, "loss": None, "oom": False, "error": None,
           "mem_limit_gib": args.mem_limit_gib,
           "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE",
                                                  "GLIBC_TUNABLES")},
           "device": args.device, "gpu_name": torch.cuda.get_device_name() if cuda else None,
           "attention": "sdpa" if sdpa else "explicit",
           "tf32": torch.backends.cuda.matmul.allow_tf32 if cuda else None,
           "max_memory_allocated_mib": None}

    def finish(code):
        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if cuda:
            try:    # since the reset before the timed steps (before the first step on an error)
                out["max_memory_allocated_mib"] = round(
                    torch.cuda.max_memory_allocated() / 2**20, 1)
            except RuntimeError:
                pass
        dev_txt = (f", {out['gpu_name']}, max allocated {out['max_memory_allocated_mib']} MiB"
                   if cuda else "")
        if args.json:
            print(json.dumps(out))
        elif out["error"]:
            print(f"torch {out['torch_version']}: {'OOM' if out['oom'] else 'error'}: "
                  f"{out['error']} (peak RSS {out['peak_rss_mib']} MiB{dev_txt})")
        else:
            print(f"torch {out['torch_version']} {args.preset} D={D} L={L} H={H} frames={Fr} "
                  f"kept={K} batch={B} threads={out['threads']}: {out['ms_per_step']:.1f} ms/step "
                  f"(median of {len(out['ms_all'])}), {out['tokens_per_s']:.0f} tokens/s, "
                  f"peak RSS {out['peak_rss_mib']} MiB{dev_txt}, loss {out['loss']:.4f}")
        sys.stdout.flush()
        os._exit(code)      # skip teardown (freeing tens of GiB is not part of any figure)

    try:
        model = LongViViT().to(args.device)      # initialised on the CPU: the same weights
        out["params"] = sum(x.numel() for x in model.parameters())
        # decoupled decay on the weight matrices only (ours: not on biases, LayerNorm,
        # embeddings, the temperature)
        decay = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
        ids_decay = {id(x) for x in decay}
        rest = [x for x in model.parameters() if id(x) not in ids_decay]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                                 {"params": rest, "weight_decay": 0.0}], lr=args.lr,
                                foreach=not args.no_foreach)
        gen = torch.Generator().manual_seed(args.seed)
        video = torch.rand(B, Fr, S, S, 3, generator=gen)
        ids = torch.randint(0, c["vocab"], (B, T), generator=gen)
        lengths = torch.randint(max(1, T // 2), T + 1, (B,), generator=gen)
        valid = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
        # drawn on the CPU (the same inputs on either device), then moved
        video, ids, valid = video.to(args.device), ids.to(args.device), valid.to(args.device)
        params = list(model.parameters())
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        for i in range(args.warmup + args.steps):
            if cuda:
                if i == args.warmup:     # the peak of the timed steps (weights, state included)
                    torch.cuda.reset_peak_memory_stats()
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            # a fresh random mask every step, as ours: K of N tokens per sample, ascending
            # (drawn and chosen on the CPU, so both devices train on the same tokens)
            kept = torch.rand(B, N, generator=gen).topk(K, dim=1).indices.sort(dim=1).values
            kept = kept.to(args.device)
            with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.bf16):
                loss = model(video, kept, ids, valid)
            loss.float().backward()
            if args.clip > 0:
                nn.utils.clip_grad_norm_(params, args.clip)
            opt.step()
            opt.zero_grad(set_to_none=False)
            if cuda:
                torch.cuda.synchronize()
            ms = (time.perf_counter() - t0) * 1e3
            if i >= args.warmup:
                out["ms_all"].append(round(ms, 3))
            out["loss"] = loss.item()
    except (RuntimeError, MemoryError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        out["oom"] = isinstance(e, MemoryError) or "alloc" in msg.lower() or \
            "memory" in msg.lower()
        out["error"] = msg
        finish(0 if out["oom"] else 1)
    if out["ms_all"]:
        out["ms_per_step"] = round(statistics.median(out["ms_all"]), 3)
        out["tokens_per_s"] = round(B * K * 1000.0 / out["ms_per_step"], 1)
    finish(0)


if __name__ == "__main__":
    main()
