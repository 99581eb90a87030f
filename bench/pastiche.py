#!/usr/bin/env python3
"""Whole style transfers, start to exit: restyle's default run against
pastiche 1.6's default run (PyTorch), and against an older restyle binary.

    pastiche.py [--sizes 512,1024] [--rounds 1] [--threads 2]
                [--pairs tubingen:starry_night,chelsea:the_scream]
                [--baseline PATH/TO/OLD/restyle] [--restyle-only]
                [--pastiche PATH/TO/pastiche] [--pastiche-steps 10,110]
                [--out target/bench-pastiche]

Each tool runs with its own defaults (restyle: L-BFGS, coarse to fine,
stopping each size once its loss levels off; pastiche: 1000 L-BFGS steps),
only the output size, the seed and the thread count given. Every run is a
fresh process, timed from start to exit (loading, targets, every step,
saving) with the process's own peak RSS (wait4's rusage); within a round
the tools alternate (restyle, pastiche, baseline), so a machine that slows
down slows all of them. Every saved picture's objective is then measured at the output size with
restyle's default weights (`restyle-bench objective`, the same code for
every picture): restyle's should be within 2% of the baseline's. Writes every result and a side-by-side picture per pair
and size into --out, and prints a table.

pastiche's 1000 steps take about two hours at 1024 px on two cores. With
--pastiche-steps A,B it runs twice instead, A and B steps, and its time for
1000 is extrapolated from the two: t_A + (1000 - A) (t_B - t_A) / (B - A),
the fixed costs (start, loading, targets, saving) counted once and each
step at the pace between A and B. Its peak RSS is the B run's: PyTorch's
L-BFGS keeps up to 100 curvature pairs, so B should be over 100. The table
marks such rows, and the picture shown is the one after B steps.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from PIL import Image, ImageDraw, ImageFont

from examples import image_path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESTYLE = os.path.join(ROOT, "target", "release", "restyle")
RESTYLE_BENCH = os.path.join(ROOT, "target", "release", "restyle-bench")
PASTICHE = os.path.join(HERE, ".venv", "bin", "pastiche")


def timed(cmd, env):
    """Wall seconds, peak RSS (bytes) and standard output of one child
    process (wait4 gives that child's own rusage)."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed with exit code {code}")
    return seconds, usage.ru_maxrss * 1024, out.decode()


def measured_objective(content, style, picture):
    """The picture's objective at its own size, restyle's default weights."""
    out = subprocess.run([RESTYLE_BENCH, "objective", content, style, picture],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["objective"]


def label(img, text):
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(14, img.height // 28))
    box = draw.textbbox((0, 0), text, font=font)
    pad = 6
    draw.rectangle((0, 0, box[2] + 2 * pad, box[3] + 2 * pad), fill=(0, 0, 0))
    draw.text((pad, pad), text, font=font, fill=(255, 255, 255))
    return img


def side_by_side(paths_and_labels, out):
    images = [label(Image.open(p).convert("RGB"), text) for p, text in paths_and_labels]
    height = images[0].height
    images = [im.resize((round(im.width * height / im.height), height)) for im in images]
    both = Image.new("RGB", (sum(im.width for im in images) + 8 * (len(images) - 1), height), "white")
    x = 0
    for im in images:
        both.paste(im, (x, 0))
        x += im.width + 8
    both.save(out, quality=88)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="512")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pairs", default="tubingen:starry_night,chelsea:the_scream")
    p.add_argument("--baseline", help="an older restyle binary to compare objectives with")
    p.add_argument("--restyle-only", action="store_true", help="leave pastiche out")
    p.add_argument("--pastiche", default=PASTICHE, help="the pastiche 1.6 command")
    p.add_argument("--pastiche-steps", help="A,B: time pastiche at A and B steps and extrapolate to its 1000")
    p.add_argument("--out", default=os.path.join(ROOT, "target/bench-pastiche"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))

    tools = [("restyle", RESTYLE)]
    if not args.restyle_only:
        tools.append(("pastiche 1.6", args.pastiche))
    if args.baseline:
        tools.append(("restyle before", args.baseline))

    pastiche_default_steps = 1000
    partial = None
    if args.pastiche_steps:
        partial = [int(n) for n in args.pastiche_steps.split(",")]
        if len(partial) != 2 or not 0 < partial[0] < partial[1] <= pastiche_default_steps:
            sys.exit(f"--pastiche-steps takes A,B with 0 < A < B <= {pastiche_default_steps}")

    def command(tool, binary, content, style, size, out, steps=None):
        if tool == "pastiche 1.6":
            extra = [] if steps is None else ["--num-steps", str(steps)]
            return [binary, "--device", "cpu", "--size", str(size), "--seed", "0", "--no-verbose",
                    *extra, "-c", content, "-s", style, "-o", out]
        return [binary, content, style, "-o", out, "-y", "--size", str(size), "--seed", "0",
                "--threads", str(args.threads), "--json"]

    rows = []
    for pair in args.pairs.split(","):
        content_name, style_name = pair.split(":")
        content, style = image_path(content_name, "content"), image_path(style_name, "style")
        for size in [int(s) for s in args.sizes.split(",")]:
            seen = {tool: [] for tool, _ in tools}
            outputs = {}
            for _ in range(args.rounds):
                for tool, binary in tools:
                    slug = tool.replace(" ", "-").replace(".", "")
                    out = os.path.join(args.out, f"{content_name}-{style_name}-{size}-{slug}.png")
                    if tool == "pastiche 1.6" and partial:
                        a, b = partial
                        sec_a, _, _ = timed(command(tool, binary, content, style, size, out, a), env)
                        sec_b, rss, _ = timed(command(tool, binary, content, style, size, out, b), env)
                        sec = sec_a + (pastiche_default_steps - a) * (sec_b - sec_a) / (b - a)
                        print(f"  {pair} {size} px {tool}: {a} steps {sec_a:.1f} s, {b} steps {sec_b:.1f} s",
                              file=sys.stderr, flush=True)
                    else:
                        sec, rss, stdout = timed(command(tool, binary, content, style, size, out), env)
                    loss = measured_objective(content, style, out)
                    seen[tool].append((sec, rss, loss))
                    outputs[tool] = out
                    print(f"  {pair} {size} px {tool}: {sec:.1f} s, {rss / 2**20:.0f} MiB, loss {loss}",
                          file=sys.stderr, flush=True)
            medians = {
                tool: (statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2])
                for tool, runs in seen.items()
            }
            rows.append((pair, size, medians))
            def caption(t):
                if t == "pastiche 1.6" and partial:
                    return (f"{t} after {partial[1]} of {pastiche_default_steps} steps, "
                            f"{pastiche_default_steps} in ~{medians[t][0]:.0f} s")
                return f"{t}, {medians[t][0]:.0f} s"

            side_by_side(
                [(outputs[t], caption(t)) for t, _ in tools],
                os.path.join(args.out, f"{content_name}-{style_name}-{size}.jpg"),
            )

    print(f"whole runs, default settings, {args.threads} threads, median of {args.rounds} round(s)")
    print()
    print("| pair | size | tool | wall time | peak RSS | final objective | time vs restyle |")
    print("|---|---|---|---|---|---|---|")
    for pair, size, medians in rows:
        ours = medians["restyle"][0]
        for tool, (sec, rss, loss) in medians.items():
            objective = "" if loss is None else f"{loss:.4f}"
            if tool == "pastiche 1.6" and partial:
                tool = f"pastiche 1.6 (time extrapolated from {partial[0]} and {partial[1]} steps)"
                objective = f"{objective} (after {partial[1]} steps)"
            print(f"| {pair.replace(':', ' + ')} | {size} px | {tool} | {sec:.1f} s | {rss / 2**20:.0f} MiB "
                  f"| {objective} | {sec / ours:.2f}x |")
        if "restyle before" in medians:
            before = medians["restyle before"][2]
            print(f"|  |  | objective, restyle / before | | | {medians['restyle'][2] / before:.4f} | |")
    print()
    print(f"pictures side by side: {args.out}/*.jpg")


if __name__ == "__main__":
    sys.exit(main())
