#!/usr/bin/env python3
"""How much precision a 3x3 convolution loses when its products run in bf16.

    python3 tools/winograd_bf16_error.py        (needs numpy)

The engine multiplies in the Winograd domain: the input tiles and the
kernels are transformed (V = B^T d B, U = G g G^T), multiplied element by
element and summed over channels, then transformed back. bf16 products with
f32 accumulation round U and V to bf16 (8 significant bits) before the
products. This prints the RMS error of the result, relative to the RMS of a
direct f64 convolution, on ReLU-like inputs and He-scaled kernels, for
F(4x4, 3x3) (what restyle uses), F(2x2, 3x3) and a direct convolution, each
in f32 and in bf16. F(4x4)'s transforms have large coefficients, which
magnify the rounding: that is why restyle stays in f32.
"""

import numpy as np


def bf16(x):
    """Rounds float32 values to the nearest bfloat16 (ties to even), as float32."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return bits.astype(np.uint32).view(np.float32)


def f32(x):
    return np.asarray(x, np.float32)


# Lavin & Gray's matrices.
F4 = (
    np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
              [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], float),
    np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], float),
    np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
              [0, 1, -1, 8, -8, 1]], float),
)
F2 = (
    np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float),
    np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], float),
    np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float),
)


def winograd(d, g, matrices, rounding):
    bt, gm, at = matrices
    c, h, w = d.shape
    k = g.shape[0]
    n, o = bt.shape[0], at.shape[0]
    padded = np.pad(d, ((0, 0), (1, n), (1, n)))
    u = np.einsum("ij,kcjl,ml->kcim", gm, g, gm)
    th, tw = h // o, w // o
    v = np.empty((c, th, tw, n, n))
    for ty in range(th):
        for tx in range(tw):
            block = padded[:, ty * o:ty * o + n, tx * o:tx * o + n]
            v[:, ty, tx] = np.einsum("ij,cjl,ml->cim", bt, block, bt)
    u, v = rounding(u).astype(float), rounding(v).astype(float)
    m = np.einsum("kcim,ctuim->ktuim", u, v)
    y = np.einsum("ij,ktujl,ml->ktuim", at, m, at)
    return y.transpose(0, 1, 3, 2, 4).reshape(k, h, w)


def direct(d, g):
    c, h, w = d.shape
    padded = np.pad(d, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((g.shape[0], h, w))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("kc,chw->khw", g[:, :, dy, dx], padded[:, dy:dy + h, dx:dx + w])
    return out


def main():
    rng = np.random.default_rng(0)
    print("| channels | F(4x4) f32 | F(4x4) bf16 | F(2x2) f32 | F(2x2) bf16 | direct bf16 |")
    print("|---|---|---|---|---|---|")
    for channels in (64, 256):
        d = np.maximum(rng.standard_normal((channels, 24, 24)), 0)
        g = rng.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)
        exact = direct(d, g)

        def error(y):
            return np.sqrt(((y - exact) ** 2).mean() / (exact ** 2).mean())

        row = [
            error(winograd(d, g, F4, f32)),
            error(winograd(d, g, F4, bf16)),
            error(winograd(d, g, F2, f32)),
            error(winograd(d, g, F2, bf16)),
            error(direct(bf16(d).astype(float), bf16(g).astype(float))),
        ]
        print(f"| {channels} | " + " | ".join(f"{e:.1e}" for e in row) + " |")


if __name__ == "__main__":
    main()
