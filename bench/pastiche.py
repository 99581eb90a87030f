#!/usr/bin/env python3
"""A whole style transfer with restyle and with pastiche 1.6 (PyTorch), side by side.

    pastiche.py [--size 512] [--steps 300] [--threads 2]
                [--content examples/images/content/tubingen.jpg]
                [--style examples/images/style/starry_night.jpg]
                [--out target/bench-pastiche]

Both tools run the same method on the same quantized VGG-19 weights, with
Adam, the same number of steps, on the same images at the same size, each
with its own default loss weights and learning rate. Each run is one
process, timed from start to exit (loading, targets, every step, saving);
peak RSS is the process's own. Writes both results and a side-by-side
picture `side-by-side.jpg` into --out, and prints a table.
"""

import argparse
import os
import subprocess
import sys
import time

from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESTYLE = os.path.join(ROOT, "target", "release", "restyle")
PASTICHE = os.path.join(HERE, ".venv", "bin", "pastiche")


def timed(cmd, env):
    """Wall seconds and peak RSS (bytes) of one child process (wait4 gives
    that child's own rusage)."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{cmd[0]} failed with exit code {child.returncode}")
    return seconds, usage.ru_maxrss * 1024


def label(img, text):
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(14, img.height // 28))
    box = draw.textbbox((0, 0), text, font=font)
    pad = 6
    draw.rectangle((0, 0, box[2] + 2 * pad, box[3] + 2 * pad), fill=(0, 0, 0))
    draw.text((pad, pad), text, font=font, fill=(255, 255, 255))
    return img


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--content", default=os.path.join(ROOT, "examples/images/content/tubingen.jpg"))
    p.add_argument("--style", default=os.path.join(ROOT, "examples/images/style/starry_night.jpg"))
    p.add_argument("--out", default=os.path.join(ROOT, "target/bench-pastiche"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))

    ours = os.path.join(args.out, "restyle.png")
    theirs = os.path.join(args.out, "pastiche.png")
    t_sec, t_rss = timed([PASTICHE, "--device", "cpu", "--optimizer", "adam", "--num-steps", str(args.steps),
                             "--size", str(args.size), "--seed", "0", "--no-verbose",
                             "-c", args.content, "-s", args.style, "-o", theirs], env)
    r_sec, r_rss = timed([RESTYLE, args.content, args.style, "-o", ours, "-y", "--optimizer", "adam",
                                  "--iterations", str(args.steps), "--size", str(args.size), "--seed", "0",
                                  "--threads", str(args.threads)], env)

    print(f"whole run, {args.size} px, Adam, {args.steps} steps, {args.threads} threads")
    print()
    print("| tool | wall time | s/step | peak RSS |")
    print("|---|---|---|---|")
    print(f"| restyle | {r_sec:.0f} s | {r_sec / args.steps:.2f} | {r_rss / 2**20:.0f} MiB |")
    print(f"| pastiche 1.6 (PyTorch) | {t_sec:.0f} s | {t_sec / args.steps:.2f} | {t_rss / 2**20:.0f} MiB |")
    print()
    print(f"time ratio restyle / pastiche: {r_sec / t_sec:.2f}")

    a = label(Image.open(ours).convert("RGB"), f"restyle, {r_sec:.0f} s")
    b = label(Image.open(theirs).convert("RGB"), f"pastiche 1.6, {t_sec:.0f} s")
    b = b.resize((round(b.width * a.height / b.height), a.height))
    both = Image.new("RGB", (a.width + b.width + 8, a.height), (255, 255, 255))
    both.paste(a, (0, 0))
    both.paste(b, (a.width + 8, 0))
    path = os.path.join(args.out, "side-by-side.jpg")
    both.save(path, quality=88)
    print(f"side by side: {path}")


if __name__ == "__main__":
    sys.exit(main())
