#!/usr/bin/env python3
"""Runs restyle and PyTorch side by side on one VGG-19 step and prints a table.

    compare.py [--sizes 256,512,1024] [--rounds 3] [--repeats 3] [--threads 2]
               [--restyle-only-above PX] [--scaling]

For each size, the two engines run in alternation (restyle, torch, restyle,
torch, ...), each round a fresh process timing REPEATS steps after a
warm-up; the table shows the medians over the rounds, their ratio, each
process's peak RSS, and restyle's achieved GFLOP/s (direct-convolution
count divided by time) against the machine's measured FMA peak. On a shared,
noisy machine only the ratios of interleaved runs mean much.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESTYLE = os.path.join(ROOT, "target", "release", "restyle-bench")
PYTHON = os.path.join(HERE, ".venv", "bin", "python")


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def restyle(size, repeats, threads):
    return run([RESTYLE, str(size), str(repeats), str(threads)])


def torch(size, repeats, threads):
    return run([PYTHON, os.path.join(HERE, "torch_step.py"), str(size), str(repeats), str(threads)])


def mib(b):
    return f"{b / 2**20:.0f} MiB"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="256,512,1024")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--restyle-only-above", type=int, default=1024,
                   help="sizes above this are timed for restyle only (PyTorch would take too long)")
    p.add_argument("--scaling", action="store_true", help="also report restyle's 1 -> N thread scaling at 512 px")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    peak = run([RESTYLE, "peak", str(args.threads)])["peak_gflops"]
    print(f"machine: {os.cpu_count()} CPUs, measured FMA peak {peak:.0f} GFLOP/s on {args.threads} threads (f32)")
    print("effective GFLOP/s: the direct 3x3 convolution count divided by the time; Winograd F(4x4,3x3)")
    print("does the same work in fewer multiplications, so it can exceed the machine's peak")
    print()
    print("| size | restyle s/step | PyTorch s/step | ratio | restyle peak RSS | PyTorch peak RSS | restyle effective GFLOP/s | vs f32 FMA peak |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for size in sizes:
        ours, theirs, ratios = [], [], []
        with_torch = size <= args.restyle_only_above
        for _ in range(args.rounds):
            r = restyle(size, args.repeats, args.threads)
            ours.append(r)
            if with_torch:
                t = torch(size, args.repeats, args.threads)
                theirs.append(t)
                ratios.append(r["seconds_per_step"] / t["seconds_per_step"])
        s = statistics.median(x["seconds_per_step"] for x in ours)
        gflops = ours[0]["gflop"] / s
        rss = max(x["peak_rss_bytes"] for x in ours)
        if with_torch:
            ts = statistics.median(x["seconds_per_step"] for x in theirs)
            trss = max(x["peak_rss_bytes"] for x in theirs)
            ratio = statistics.median(ratios)
            row = f"| {size} px | {s:.3f} | {ts:.3f} | **{ratio:.2f}** | {mib(rss)} | {mib(trss)} | {gflops:.0f} | {gflops / peak:.0%} |"
        else:
            row = f"| {size} px | {s:.3f} | (not run) | | {mib(rss)} | | {gflops:.0f} | {gflops / peak:.0%} |"
        print(row, flush=True)
        rows.append((size, s))
    if len(rows) > 1:
        print()
        print("| size | pixels vs first | s/step vs first |")
        print("|---|---|---|")
        base_size, base_s = rows[0]
        for size, s in rows:
            print(f"| {size} px | {(size / base_size) ** 2:.1f}x | {s / base_s:.1f}x |")
    if args.scaling:
        one = statistics.median(restyle(512, args.repeats, 1)["seconds_per_step"] for _ in range(args.rounds))
        n = statistics.median(restyle(512, args.repeats, args.threads)["seconds_per_step"] for _ in range(args.rounds))
        print()
        print(f"restyle at 512 px: {one:.3f} s/step on 1 thread, {n:.3f} on {args.threads}: {one / n:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
