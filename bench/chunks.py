"""Seams of a clip painted in chunks: how much they flicker, and what hides them.

A long clip on the server is to be painted in chunks by several workers at once (issue 25).
Where two chunks meet, the second starts without the first's temporal state (the carried
painted frame, the fast network's statistics), so the seam can flicker. This paints
../shared/video/big_buck_bunny_5s.mp4 with `restyle video --method fast --size 384` whole,
and in two chunks meeting at the middle frame three ways:

- cut: the second chunk starts at the seam, cold;
- warm: it starts WARM frames early (painted, then dropped), so its state is warm at the seam;
- warm + fade: as warm, and the last FADE frames before the seam are cross-faded from the
  first chunk's to the second's (both painted them).

and prints Lai et al.'s warping error (bench/video.py's, OpenCV DIS flows on the input) of the
seam's frame pair beside the mean and the largest of the pairs inside the chunks.

    python3 bench/chunks.py [--restyle target/release/restyle] [--warm 8] [--fade 4]

Measured (2026-12-07, 132 frames 384x216, seam between frames 65 and 66; the mean and the
largest pair inside the chunks are 0.0005 and 0.0020 in every row):

| painted | seam pair, warm 8 fade 4 | seam pair, warm 4 fade 2 |
|---|---|---|
| whole (no seam) | 0.0006 | 0.0006 |
| cut | 0.0040 | 0.0040 |
| warm | 0.0013 | 0.0016 |
| warm + fade | 0.0006 | 0.0007 |

So a cold seam flickers 8 times as much as the frames around it (twice the worst pair inside);
eight frames of warm-up and a four-frame cross-fade make it as steady as the unbroken run.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from video import SHARED_CLIP, dis_flows, frames_of, reliable, warp  # noqa: E402

STYLE = Path(__file__).parent.parent / "crates/server/assets/styles/starry_night.jpg"


def pair_errors(frames, flows):
    """Lai et al.'s warping error of each frame pair t -> t+1."""
    errors = []
    for t, (fwd, bwd) in enumerate(flows):
        m = reliable(fwd, bwd)
        if m.sum() == 0:
            m = np.ones_like(m)
        d = ((frames[t] - warp(frames[t + 1], fwd)) ** 2).sum(-1)
        errors.append(float((m * d).sum() / (3 * m.sum())))
    return errors


def paint(restyle, out, start_frame=None, frames=None, fps=25.0, size=384):
    cmd = [restyle, "video", SHARED_CLIP, STYLE, "-o", out, "--method", "fast", "--size", size, "-y", "-q"]
    if start_frame is not None:
        # Half a frame in: the first frame whose time is at or after the start.
        cmd += ["--start", f"{max(0.0, (start_frame - 0.5) / fps):.4f}", "--duration", f"{frames / fps:.4f}"]
    subprocess.run([str(c) for c in cmd], check=True)
    return frames_of(out)


def measure_seams(painted, clip, seams):
    """The seam pairs of a clip painted in chunks (`restyle serve`'s result), beside the others."""
    frames = frames_of(painted)
    h, w = frames[0].shape[:2]
    inputs = frames_of(clip, size=max(w, h))[: len(frames)]
    e = pair_errors(frames, dis_flows(inputs))
    around = set()
    for s in seams:
        around.update(range(s - FADE - 1, s + 1))
    inside = [x for i, x in enumerate(e) if i not in around]
    print(f"{len(frames)} frames {w}x{h}; pairs inside: mean {np.mean(inside):.4f}, median {np.median(inside):.4f}")
    for s in seams:
        print(f"seam between frames {s - 1} and {s}: {e[s - 1]:.4f}; the fade's pairs: "
              + ", ".join(f"{x:.4f}" for x in e[s - 1 - FADE: s - 1]))


FADE = 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--restyle", default="target/debug/restyle")
    ap.add_argument("--warm", type=int, default=8)
    ap.add_argument("--fade", type=int, default=4)
    ap.add_argument("--painted", help="measure this clip painted in chunks instead (with --clip and --seams)")
    ap.add_argument("--clip")
    ap.add_argument("--seams", help="first frames of the chunks after the first, e.g. 198")
    args = ap.parse_args()
    if args.painted:
        return measure_seams(args.painted, args.clip, [int(s) for s in args.seams.split(",")])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        whole = paint(args.restyle, tmp / "whole.mp4")
        n = len(whole)
        h, w = whole[0].shape[:2]
        inputs = [f for f in frames_of(SHARED_CLIP, size=max(w, h))][:n]
        flows = dis_flows(inputs)
        seam = n // 2
        first = paint(args.restyle, tmp / "a.mp4", 0, seam)
        assert len(first) == seam, (len(first), seam)
        cold = paint(args.restyle, tmp / "cut.mp4", seam, n - seam)
        early = seam - args.warm
        warm = paint(args.restyle, tmp / "warm.mp4", early, n - early)
        assert len(cold) == n - seam and len(warm) == n - early, (len(cold), len(warm))
        cut = first + cold
        warmed = first + warm[args.warm:]
        faded = list(warmed)
        for k in range(args.fade):
            t = seam - args.fade + k
            share = (k + 1) / (args.fade + 1)
            faded[t] = (1 - share) * first[t] + share * warm[t - early]
        print(f"{n} frames {w}x{h}, seam between frames {seam - 1} and {seam} (warm {args.warm}, fade {args.fade})")
        print("| painted | seam pair | mean inside | largest inside |")
        print("|---|---|---|---|")
        for name, frames in [("whole (no seam)", whole), ("cut", cut), ("warm", warmed), ("warm + fade", faded)]:
            e = pair_errors(frames, flows)
            inside = e[: seam - 1 - args.fade] + e[seam:]
            print(f"| {name} | {e[seam - 1]:.4f} | {np.mean(inside):.4f} | {max(inside):.4f} |")


if __name__ == "__main__":
    main()
