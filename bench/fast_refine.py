#!/usr/bin/env python3
"""How many Gatys steps a start from the fast picture saves.

    cargo build --release
    python3 bench/fast_refine.py [--size 256] [--steps 300] [CONTENT STYLE]

Runs `restyle CONTENT STYLE --json -n STEPS` twice at the same size, once from the content
(the default) and once with `--init fast`, both with L-BFGS and the default weights, reading the
objective after every step from the JSON events and timing each event as it arrives. Prints
the objective after STEPS steps from the content, and the step (and seconds from the start of
the process) at which the fast start first reaches it. The two pictures are written to
`target/fast-refine/` to be looked at side by side.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESTYLE = ROOT / "target/release/restyle"


def run(content, style, size, steps, init, out):
    cmd = [str(RESTYLE), str(content), str(style), "-o", str(out), "-s", str(size),
           "-n", str(steps), "--json", "-y", "--init", init]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    losses = []  # (step, loss, seconds since start)
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("event") == "step":
            losses.append((event["step"], event["loss"], time.perf_counter() - started))
    if proc.wait() != 0:
        sys.exit(f"restyle failed: {' '.join(cmd)}")
    return losses, time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("content", nargs="?", default=ROOT / "examples/images/content/tubingen.jpg")
    ap.add_argument("style", nargs="?", default=ROOT / "examples/images/style/starry_night.jpg")
    args = ap.parse_args()
    out = ROOT / "target/fast-refine"
    out.mkdir(parents=True, exist_ok=True)
    base, base_wall = run(args.content, args.style, args.size, args.steps, "content",
                          out / "from_content.png")
    fast, fast_wall = run(args.content, args.style, args.size, args.steps, "fast",
                          out / "from_fast.png")
    target = base[-1][1]
    print(f"{args.size} px, {pathlib.Path(args.content).name} in the style of "
          f"{pathlib.Path(args.style).name}, L-BFGS")
    print(f"from the content: objective {target:.4g} after {base[-1][0]} steps, "
          f"{base[-1][2]:.1f} s ({base_wall:.1f} s to exit)")
    print(f"from the fast picture: objective {fast[0][1]:.4g} after step 1, "
          f"{fast[-1][1]:.4g} after {fast[-1][0]} steps ({fast_wall:.1f} s to exit)")
    reached = next(((s, t) for s, loss, t in fast if loss <= target), None)
    if reached:
        print(f"the fast start reaches {target:.4g} at step {reached[0]}, {reached[1]:.1f} s "
              f"after starting (the content start: step {base[-1][0]}, {base[-1][2]:.1f} s)")
    else:
        print(f"the fast start does not reach {target:.4g} within {args.steps} steps")
    for step in (1, 10, 50, 100, 200, 300):
        if step <= len(base) and step <= len(fast):
            print(f"  step {step:4d}: content start {base[step - 1][1]:.4g}, "
                  f"fast start {fast[step - 1][1]:.4g}")


if __name__ == "__main__":
    main()
