#!/usr/bin/env python3
"""restyle's optical flow (crates/flow) side by side with OpenCV's DIS, in one run.

    python3 -m venv bench/.venv
    bench/.venv/bin/pip install opencv-python-headless numpy
    cargo build --release -p restyle-flow --example flow_pairs
    bench/.venv/bin/python bench/flow.py [--threads 2] [--repeats 15] [--frames 9]

A synthetic camera move over a real photo (examples/images/content/tubingen.jpg, 1024x768):
each frame is a 640x360 view whose homography from frame to photo pans, zooms in and turns a
little from frame to frame, rendered with OpenCV's bilinear warpPerspective. The flow between
consecutive frames is known exactly: the pixel p of frame t shows the photo's point H_t p,
which frame t+1 shows at H_{t+1}^-1 H_t p. Two moves: "slow" (3 px a frame of pan, 0.5%
zoom, 0.2 degrees) and "fast" (14 px, 2%, 0.8 degrees).

For each preset (ultrafast, fast, medium) both tools compute the flow of every pair on the
same grey frames (Rec. 601 luma: restyle's Gray::from_rgb8, OpenCV's cvtColor) with the same
thread count; the table gives the mean end-point error over all pixels and over the pixels
whose destination stays in the frame, and the time a pair (the flow call alone, decoding not
counted: each pair's median, and best, over --repeats, then the mean over pairs). restyle runs in its
example binary `flow_pairs --stdin` (crates/flow/examples/flow_pairs.rs), one process a
preset, OpenCV in this process (cv2.DISOpticalFlow_create(preset), setNumThreads); every
repeat takes each pair through every tool and preset in turn, so all see the same load.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples/images/content/tubingen.jpg"
FLOW_PAIRS = (
    pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release/examples/flow_pairs"
)
W, H = 640, 360
PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# (pan x, pan y in photo pixels, zoom, degrees) a frame.
MOVES = {"slow": (3.0, 1.0, 1.005, 0.2), "fast": (14.0, 5.0, 1.02, 0.8)}


def homography(t, move, photo_w, photo_h, frames):
    """Frame t's pixel -> photo point: centre the view, scale (zoom in), rotate, pan."""
    px, py, zoom, degrees = move
    # Start so the whole move stays inside the photo, centred.
    cx = photo_w / 2 + px * (t - frames / 2)
    cy = photo_h / 2 + py * (t - frames / 2)
    s = 1.3 / zoom**t  # 1.3 photo pixels a frame pixel at first: room to turn and pan
    a = np.radians(degrees * t)
    centre = np.array([[1, 0, -W / 2], [0, 1, -H / 2], [0, 0, 1]], dtype=np.float64)
    rot = np.array(
        [[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0], [0, 0, 1]]
    )
    pan = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=np.float64)
    return pan @ rot @ centre


def truth_flow(h0, h1):
    m = np.linalg.inv(h1) @ h0
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    pts = np.stack([xs, ys, np.ones_like(xs)], axis=-1) @ m.T
    u = pts[..., 0] / pts[..., 2] - xs
    v = pts[..., 1] / pts[..., 2] - ys
    return np.stack([u, v], axis=-1).astype(np.float32)


def read_flo(path):
    data = path.read_bytes()
    assert data[:4] == b"PIEH", path
    w, h = np.frombuffer(data[4:12], dtype="<i4")
    return np.frombuffer(data[12:], dtype="<f4").reshape(h, w, 2)


def epe(flow, truth):
    err = np.linalg.norm(flow - truth, axis=-1)
    ys, xs = np.mgrid[0:H, 0:W]
    dx, dy = xs + truth[..., 0], ys + truth[..., 1]
    inside = (dx >= 0) & (dy >= 0) & (dx <= W - 1) & (dy <= H - 1)
    return float(err.mean()), float(err[inside].mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--frames", type=int, default=9, help="frames a move (pairs = frames - 1)")
    ap.add_argument(
        "--variants",
        default="",
        help="more restyle rows, e.g. medium:0 (the medium preset at finest scale 0)",
    )
    args = ap.parse_args()
    if not FLOW_PAIRS.exists():
        sys.exit(f"{FLOW_PAIRS} missing: cargo build --release -p restyle-flow --example flow_pairs")
    cv2.setNumThreads(args.threads)
    photo = cv2.imread(str(PHOTO))
    ph, pw = photo.shape[:2]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for name, move in MOVES.items():
            hs = [homography(t, move, pw, ph, args.frames) for t in range(args.frames)]
            frames, files = [], []
            for t, hm in enumerate(hs):
                img = cv2.warpPerspective(
                    photo, hm, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                    borderMode=cv2.BORDER_REFLECT,
                )
                f = tmp / f"{name}_{t:03d}.png"
                cv2.imwrite(str(f), img)
                files.append(f)
                frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
            truths = [truth_flow(hs[t], hs[t + 1]) for t in range(args.frames - 1)]
            mags = [float(np.linalg.norm(t, axis=-1).mean()) for t in truths]

            variants = [(p, None) for p in PRESETS]
            for v in filter(None, args.variants.split(",")):
                p, f = v.split(":")
                variants.append((p, int(f)))
            env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
            procs = {}
            for preset, finest in variants:
                cmd = [str(FLOW_PAIRS), "--preset", preset, "--stdin"]
                if finest is not None:
                    cmd += ["--finest-scale", str(finest)]
                procs[(preset, finest)] = subprocess.Popen(
                    cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            dis = {p: cv2.DISOpticalFlow_create(code) for p, code in PRESETS.items()}
            pairs = range(args.frames - 1)
            times = {}  # (tool, preset, finest) -> pair -> [ms]
            flows = {}
            # Each repeat: every pair through every tool and preset in turn, so both tools
            # see the same load.
            for _ in range(args.repeats):
                for t in pairs:
                    for (preset, finest), proc in procs.items():
                        out = tmp / f"{name}_{preset}_{finest}_{t:04d}.flo"
                        proc.stdin.write(f"{files[t]} {files[t + 1]} {out}\n")
                        proc.stdin.flush()
                        reply = proc.stdout.readline().split()
                        if len(reply) != 2:
                            sys.exit(f"flow_pairs failed on pair {t} ({preset})")
                        times.setdefault(("restyle", preset, finest), {}).setdefault(t, []).append(
                            float(reply[1])
                        )
                        flows[("restyle", preset, finest, t)] = out
                    for preset, d in dis.items():
                        start = time.perf_counter()
                        flow = d.calc(frames[t], frames[t + 1], None)
                        ms = (time.perf_counter() - start) * 1000
                        times.setdefault(("opencv", preset, None), {}).setdefault(t, []).append(ms)
                        flows[("opencv", preset, None, t)] = flow
            for proc in procs.values():
                proc.stdin.close()
                proc.wait()
            for (tool, preset, finest), per_pair in times.items():
                errs = []
                for t in pairs:
                    f = flows[(tool, preset, finest, t)]
                    errs.append(epe(read_flo(f) if tool == "restyle" else f, truths[t]))
                ms = [
                    (statistics.median(per_pair[t]), min(per_pair[t])) for t in pairs
                ]
                label = preset if finest is None else f"{preset}, finest scale {finest}"
                who = "restyle" if tool == "restyle" else "OpenCV " + cv2.__version__
                rows.append((name, who, label, errs, ms))
            print(
                f"move {name}: {args.frames - 1} pairs of {W}x{H}, mean motion "
                f"{statistics.mean(mags):.2f} px",
                file=sys.stderr,
            )

    print(
        f"\n{args.threads} threads; ms a pair: each pair's median (and best) of {args.repeats}, "
        "then the mean over pairs\n"
    )
    print("| move | tool | preset | EPE (all pixels) | EPE (staying in frame) | ms a pair | best |")
    print("|---|---|---|---|---|---|---|")
    for name, tool, preset, errs, ms in rows:
        e_all = statistics.mean(e[0] for e in errs)
        e_in = statistics.mean(e[1] for e in errs)
        med = statistics.mean(m[0] for m in ms)
        best = statistics.mean(m[1] for m in ms)
        print(f"| {name} | {tool} | {preset} | {e_all:.3f} | {e_in:.3f} | {med:.1f} | {best:.1f} |")


if __name__ == "__main__":
    main()
