#!/usr/bin/env python3
"""Times one VGG-19 step in PyTorch, the same work as `restyle-bench`.

    torch_step.py SIZE [REPEATS] [THREADS]

VGG-19 up to relu5_1 (torchvision's features[:30], random weights: the
timing does not depend on them), forward on a SIZE x SIZE image that
requires a gradient, then backward to the image for sum(relu5_1 * R).
Prints one JSON line: median seconds per step over REPEATS timed steps
(after one warm-up) and this process's peak RSS.
"""

import json
import resource
import sys
import time

import torch
import torchvision


def main():
    size = int(sys.argv[1])
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torchvision.models.vgg19().features[:30].eval()
    for p in net.parameters():
        p.requires_grad_(False)
    image = torch.rand(1, 3, size, size, requires_grad=True)
    with torch.no_grad():
        r = torch.rand_like(net(image)) - 0.5

    def step():
        image.grad = None
        loss = (net(image) * r).sum()
        loss.backward()
        return image.grad

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "engine": "pytorch " + torch.__version__,
        "size": size,
        "threads": torch.get_num_threads(),
        "seconds_per_step": times[len(times) // 2],
        "min_seconds": times[0],
        "peak_rss_bytes": peak,
    }))


if __name__ == "__main__":
    main()
