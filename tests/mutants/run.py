#!/usr/bin/python3
"""Runs the catalogue of porting mistakes (tests/mutants/catalogue.py) against the golden files.

  /usr/bin/python3 tests/mutants/run.py PROGRAM [--golden DIR] [--jobs N] [--only A,B,...]
                                        [--keep-going] [--self-test] [--work DIR]

First the clean port (tests/port/torch_port.py) must pass `PROGRAM golden --compare GOLDEN PORT
--port` (exit 0): if it does not, the verdicts mean nothing and the run stops with exit 1
(--keep-going goes on, and then a mutant counts as caught only by a tensor the clean port
passes, or by one it fails at over 10x the clean port's margin; the exit status stays 1). Then
every mutant runs the port on every case into its own folder, and the compare's --json report
gives the verdict: exit 1 = CAUGHT (with the tensor of the worst margin), exit 0 = MISSED,
anything else (or the port failing to run a case) = ERROR.

Exit status: 0 when the clean port passes and every mutant is caught; 1 otherwise; 2 bad usage.
--self-test checks the runner itself instead: the clean port passes, and the control mutants
`noop` (patches nothing) and `copies` (the catalogue's knobbed copies at their defaults) are
reported MISSED with the clean port's worst margin; exit 0 when so.
"""
import argparse
import concurrent.futures as cf
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PORT = os.path.join(ROOT, "tests", "port", "torch_port.py")
PY = sys.executable or "/usr/bin/python3"


def catalogue():
    sys.path[:0] = [os.path.join(ROOT, "tests", "torch"), HERE]
    sys.dont_write_bytecode = True
    import catalogue as C
    return C.CATALOGUE


def run_port(golden, out, mutant=None):
    cmd = [PY, PORT, "--golden", golden, "--out", out, "--quiet"]
    if mutant:
        cmd += ["--mutant", mutant]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return p.returncode, p.stderr.strip()


def _json(text):
    # tolerate bare inf / nan should the C side print them
    text = re.sub(r"(?<![\w\"])(-?)(inf|nan)(?![\w\"])", lambda m: f'"{m.group(1)}{m.group(2)}"',
                  text, flags=re.I)
    return json.loads(text)


def compare(program, golden, out):
    p = subprocess.run([program, "golden", "--compare", golden, out, "--port", "--json",
                        "--worst", "1000000"], capture_output=True, text=True)
    try:
        rep = _json(p.stdout)
    except ValueError:
        rep = None
    return p.returncode, rep, p.stderr.strip()


def margin(e):
    try:
        return float(e.get("margin"))
    except (TypeError, ValueError):
        return float("inf")


def failing(rep):
    return {(e["case"], e["tensor"]): margin(e) for e in (rep or {}).get("worst", [])
            if margin(e) > 1 or margin(e) != margin(e)}


def judge(name, golden, program, work, clean_fail):
    out = os.path.join(work, name)
    t0 = time.time()
    prc, perr = run_port(golden, out, name)
    rc, rep, cerr = compare(program, golden, out)
    res = {"name": name, "seconds": time.time() - t0, "worst": None}
    if prc != 0:
        res.update(verdict="ERROR", why=f"port exit {prc}: {perr.splitlines()[-1] if perr else ''}")
    elif rc not in (0, 1) or rep is None:
        res.update(verdict="ERROR", why=f"compare exit {rc}: {cerr.splitlines()[-1] if cerr else ''}")
    else:
        fails = failing(rep)
        real = {k: m for k, m in fails.items()
                if k not in clean_fail or m > 10 * clean_fail[k]}
        worst = max(real.items(), key=lambda kv: kv[1]) if real else None
        if rc == 1 and worst:
            res.update(verdict="CAUGHT", worst=worst, failed=len(real))
        else:
            top = (rep.get("worst") or [{}])[0]
            res.update(verdict="MISSED", failed=0,
                       worst=((top.get("case"), top.get("tensor")), margin(top)) if top else None)
    shutil.rmtree(out, ignore_errors=True)
    return res


def fmt_worst(w):
    if not w:
        return "-"
    (case, tensor), m = w
    return f"{m:.3g}  {case} {tensor}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("program", help="the longvivit program (make mutants passes it)")
    ap.add_argument("--golden", default=os.path.join(ROOT, "golden"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", help="comma-separated mutant names")
    ap.add_argument("--keep-going", action="store_true",
                    help="go on when the clean port fails (verdicts against its failures)")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--work", help="folder for the port outputs (default: a temporary one)")
    a = ap.parse_args()
    cat = catalogue()
    if a.self_test:
        names = [n for n, m in cat.items() if m.control]
    elif a.only:
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        bad = [n for n in names if n not in cat]
        if bad:
            print(f"run.py: no mutant {', '.join(bad)}", file=sys.stderr)
            return 2
    else:
        names = [n for n, m in cat.items() if not m.control]
    work = a.work or tempfile.mkdtemp(prefix="longvivit-mutants-")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    try:
        clean = os.path.join(work, "clean")
        prc, perr = run_port(a.golden, clean)
        rc, rep, cerr = compare(a.program, a.golden, clean)
        if prc != 0 or rc not in (0, 1) or rep is None:
            print(f"clean port: ERROR (port exit {prc}, compare exit {rc})\n{perr}\n{cerr}")
            return 1
        clean_fail = failing(rep)
        print(f"clean port: {'PASS' if rc == 0 else 'FAIL'}: {rep.get('tensors')} tensors of "
              f"{rep.get('cases')} cases, worst margin {margin(rep['worst'][0]) if rep.get('worst') else 0:.4g}"
              f" ({rep['worst'][0]['case']} {rep['worst'][0]['tensor']})" if rep.get("worst") else "")
        if rc != 0:
            for (c, t), m in sorted(clean_fail.items(), key=lambda kv: -kv[1]):
                print(f"  clean FAIL {m:10.4g}  {c} {t}")
            if not a.keep_going:
                print("the clean port fails: the catalogue's verdicts would mean nothing (exit 1)")
                return 1
            print("--keep-going: a mutant is caught only by a tensor the clean port passes (or "
                  "fails at over 10x its margin)")
        shutil.rmtree(clean, ignore_errors=True)
        with cf.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
            results = list(ex.map(lambda n: judge(n, a.golden, a.program, work, clean_fail),
                                  names))
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    w = max(len(n) for n in names) if names else 8
    print(f"\n{'mutant':<{w}}  {'verdict':<7}  {'worst margin / tensor that caught it':<62} "
          f"description [expected catchers]")
    for r in results:
        m = cat[r["name"]]
        where = fmt_worst(r["worst"]) if r["verdict"] == "CAUGHT" else \
            (r.get("why") or ("clean-like: " + fmt_worst(r["worst"])))
        print(f"{r['name']:<{w}}  {r['verdict']:<7}  {where[:62]:<62} {m.description} "
              f"[{m.catchers}]")
    counts = {v: sum(r["verdict"] == v for r in results) for v in ("CAUGHT", "MISSED", "ERROR")}
    print(f"\n{len(results)} mutants: {counts['CAUGHT']} caught, {counts['MISSED']} missed, "
          f"{counts['ERROR']} errors ({time.time() - t0:.0f} s)")
    if counts["MISSED"]:
        print("missed: " + ", ".join(r["name"] for r in results if r["verdict"] == "MISSED"))
    clean_ok = rc == 0
    if a.self_test:
        cw = margin(rep["worst"][0]) if rep.get("worst") else 0.0
        ok = clean_ok and all(r["verdict"] == "MISSED" and r["worst"] and
                              abs(r["worst"][1] - cw) <= 1e-9 + 1e-6 * cw for r in results)
        print(f"self-test: {'PASS' if ok else 'FAIL'} (clean port {'passes' if clean_ok else 'FAILS'}; "
              f"the controls must be MISSED with the clean worst margin {cw:.4g})")
        return 0 if ok else 1
    return 0 if clean_ok and counts["CAUGHT"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
