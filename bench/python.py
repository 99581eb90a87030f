#!/usr/bin/env python3
"""The restyle Python package against pastiche (PyTorch) for the same run,
side by side.

    python.py --restyle-python VENV/bin/python --pastiche-python VENV/bin/python
              [--wheel PATH.whl] [--size 512] [--steps 10] [--rounds 3] [--threads 2]
              [--content tubingen] [--style starry_night]

Both tools paint the same photo in the style of the same painting at the same
size (long edge), from the photo, with Adam (one objective evaluation a step
in both, so a step is the same work), on the same quantized VGG-19 weights,
on --threads threads. Each round runs each tool once, in a fresh process,
alternating (restyle, pastiche, restyle, ...), so that a machine that slows
down slows both; the table shows medians over the rounds:

- install size: the wheel, and each virtual environment's site-packages
  (restyle with Pillow; pastiche with PyTorch, as `pip install pastiche` gets it);
- import time: `import restyle` against `import torch, pastiche`;
- time to the first step: from after the import to the end of the first step
  (loading the images and the network, the style targets, one step);
- seconds per step: the median of the steps after the first;
- peak memory: the child process's peak RSS (wait4's rusage).

Run it from a checkout; each VENV must have its tool installed (restyle: `pip
install ./crates/python`; pastiche: `pip install pastiche`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from examples import image_path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def child_restyle(args):
    """One restyle run in this process; prints a JSON line."""
    start = time.perf_counter()
    import restyle

    imported = time.perf_counter()
    stamps = []

    def step(step, total, losses, preview):
        stamps.append(time.perf_counter())
        return True

    restyle.stylize(
        args.content, args.style, size=args.size, iterations=args.steps, optimizer="adam",
        stop_tolerance=0, threads=args.threads, callback=step,
    )
    return start, imported, stamps


def child_pastiche(args):
    """One pastiche run in this process, driven step by step as its command line does."""
    import warnings

    # torch warns once that numpy is missing, though it does not need it (as
    # pastiche's own command line, this hides that one warning).
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    start = time.perf_counter()
    import torch
    from pastiche.pastiche import PasticheArtist

    imported = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    artist = PasticheArtist(
        args.content, [args.style], optimizer="adam", device="cpu", size=args.size,
        style_size=args.size,
    )
    stamps = []
    for _ in range(args.steps):
        artist.draw()
        stamps.append(time.perf_counter())
    return start, imported, stamps


def child(args):
    # This script's folder holds bench/pastiche.py, which would shadow the package.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]
    run = child_restyle if args.child == "restyle" else child_pastiche
    start, imported, stamps = run(args)
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    print(json.dumps({
        "import_seconds": imported - start,
        "first_step_seconds": stamps[0] - imported,
        "seconds_per_step": statistics.median(steps),
        "steps": len(stamps),
    }))


def measured(python, args, tool):
    """Runs one child process; its figures and its peak RSS."""
    cmd = [python, os.path.abspath(__file__), "--child", tool, "--content", args.content,
           "--style", args.style, "--size", str(args.size), "--steps", str(args.steps),
           "--threads", str(args.threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{tool} failed: {' '.join(cmd)}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_rss_bytes"] = usage.ru_maxrss * 1024
    return result


def site_packages_bytes(python):
    """Bytes under the environment's site-packages (everything pip installed there)."""
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    folder = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def size(b):
    return f"{b / 2**20:.0f} MiB" if b < 2**30 else f"{b / 2**30:.2f} GiB"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--restyle-python")
    p.add_argument("--pastiche-python")
    p.add_argument("--wheel", help="the restyle wheel, for its size")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--content", default="tubingen")
    p.add_argument("--style", default="starry_night")
    p.add_argument("--child", choices=("restyle", "pastiche"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    if not (args.restyle_python and args.pastiche_python):
        p.error("--restyle-python and --pastiche-python are needed")
    args.content = image_path(args.content, "content")
    args.style = image_path(args.style, "style")

    tools = [("restyle", args.restyle_python), ("pastiche", args.pastiche_python)]
    runs = {tool: [] for tool, _ in tools}
    for r in range(args.rounds):
        for tool, python in tools:
            result = measured(python, args, tool)
            runs[tool].append(result)
            print(f"round {r + 1} {tool}: {json.dumps(result)}", file=sys.stderr, flush=True)

    def median(tool, key):
        return statistics.median(x[key] for x in runs[tool])

    installed = {tool: site_packages_bytes(python) for tool, python in tools}
    print(f"{os.path.basename(args.content)} in the style of {os.path.basename(args.style)}, "
          f"{args.size} px, Adam, {args.steps} steps, {args.threads} threads; "
          f"medians of {args.rounds} fresh processes each, alternating; load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print()
    print("| | restyle (Python package) | pastiche (PyTorch) | pastiche / restyle |")
    print("|---|---|---|---|")
    if args.wheel:
        print(f"| wheel | {size(os.path.getsize(args.wheel))} | | |")
    r, t = installed["restyle"], installed["pastiche"]
    print(f"| installed (site-packages) | {size(r)} | {size(t)} | {t / r:.0f}x |")
    for key, label, unit in [
        ("import_seconds", "import time", "s"),
        ("first_step_seconds", "time to the first step", "s"),
        ("seconds_per_step", "seconds per step", "s"),
    ]:
        a, b = median("restyle", key), median("pastiche", key)
        print(f"| {label} | {a:.2f} {unit} | {b:.2f} {unit} | {b / a:.1f}x |")
    a = max(x["peak_rss_bytes"] for x in runs["restyle"])
    b = max(x["peak_rss_bytes"] for x in runs["pastiche"])
    print(f"| peak memory (RSS) | {size(a)} | {size(b)} | {b / a:.1f}x |")


if __name__ == "__main__":
    sys.exit(main())
