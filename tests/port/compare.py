#!/usr/bin/python3
"""A small stand-in for `longvivit golden --compare GOLDEN PORT --port`, for developing the port
without the C program: every tensor of every PORT/{kernels,models}/*.safetensors against the
golden file's, margin = max |got - want| / (abs + rel |want|) with abs, rel from GOLDEN/MANIFEST
(columns 3 and 4; with --port the port columns 5 and 6 where present); NaN, a missing tensor or a shape mismatch fails. Every MANIFEST row of a case
the port wrote must be present.

  /usr/bin/python3 tests/port/compare.py GOLDEN PORT [--json] [--worst N]
Exit status: 0 all within tolerance, 1 a tensor out of tolerance or missing, 2 bad input.
"""
import argparse
import glob
import json
import math
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch"))
import numpy as np                                  # noqa: E402
import safetensors_io as st                         # noqa: E402


def _num(x):
    try:
        return float(x)
    except ValueError:
        return None


def manifest(path, port):
    """(case, tensor) -> (abs, rel): columns 3-4, or the port columns 5-6 (when the MANIFEST
    has them) with --port. No after.* widening here: the C command's is authoritative."""
    rows = {}
    for line in open(path):
        if line.strip() and not line.startswith("#"):
            f = line.split()
            a, r = float(f[2]), float(f[3])
            if port and len(f) > 5 and _num(f[4]) is not None and _num(f[5]) is not None:
                a, r = float(f[4]), float(f[5])
            rows[f[0], f[1]] = (a, r)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("golden")
    ap.add_argument("port")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worst", type=int, default=10)
    ap.add_argument("--port", dest="portflag", action="store_true", help="the port columns")
    a = ap.parse_args()
    try:
        rows = manifest(os.path.join(a.golden, "MANIFEST"), a.portflag)
    except OSError as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    results, failed = [], 0
    files = sorted(glob.glob(os.path.join(a.port, "kernels", "*.safetensors")) +
                   glob.glob(os.path.join(a.port, "models", "*.safetensors")))
    for f in files:
        case = os.path.splitext(os.path.relpath(f, a.port))[0]
        try:
            got, _ = st.load(f)
            want, _ = st.load(os.path.join(a.golden, case + ".safetensors"))
        except (OSError, ValueError) as e:
            print(f"compare: {case}: {e}", file=sys.stderr)
            return 2
        for (c, name), (ab, rel) in rows.items():
            if c != case:
                continue
            r = {"case": case, "tensor": name}
            if name not in got:
                r.update(margin=math.inf, note="missing")
            elif got[name].shape != want[name].shape:
                r.update(margin=math.inf, note=f"shape {got[name].shape} vs {want[name].shape}")
            else:
                g, w = got[name].astype(np.float64), want[name].astype(np.float64)
                with np.errstate(divide="ignore", invalid="ignore"):
                    err = np.abs(g - w)
                    m = err / (ab + rel * np.abs(w))
                    m = np.where(err == 0, 0.0, m)
                    m = np.where(np.isnan(m), math.inf, m)
                if m.size == 0:
                    r.update(margin=0.0)
                else:
                    i = int(np.argmax(m))
                    r.update(margin=float(m.flat[i]), index=i, want=float(w.flat[i]),
                             got=float(g.flat[i]), abs=ab, rel=rel)
            failed += r["margin"] > 1
            results.append(r)
    results.sort(key=lambda r: -r["margin"])
    summary = {"cases": len(files), "tensors": len(results), "failed": failed,
               "worst_margin": results[0]["margin"] if results else 0.0,
               "worst": results[:a.worst]}
    if a.json:
        print(json.dumps(summary, default=str))
    else:
        for r in results[:a.worst]:
            print(f"  {r['margin']:8.4g}  {r['case']:<32} {r['tensor']:<44} {r.get('note', '')}")
        print(f"{len(files)} case(s), {len(results)} tensor(s), {failed} failed")
    return 2 if not files else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
