#!/usr/bin/env python3
"""Write restyle's fast networks as ONNX, for onnxruntime-web, from restyle's own weights file.

    target/fast-venv/bin/python tools/export_fast_onnx.py crates/fast/weights/arbitrary.safetensors OUT_DIR

Reads `crates/fast/weights/arbitrary.safetensors` (int8 codes, one scale per output channel,
float biases: tools/convert_fast_weights.py) and builds the two networks as
`crates/fast/src/model.rs` runs them, in NCHW float32:

- `style.onnx`: input `style` [1, 3, 256, 256] (RGB, 0..1) -> `vector` [1, 100].
- `transformer.onnx`: inputs `content` [1, 3, height, width] (any height and width of at least
  8) and `vector` [1, 100] -> `picture` [1, 3, height, width] (0..1). A side that is not a
  multiple of 4 is painted a little larger and cropped, as model.rs does.

Each is written twice: `*.int8.onnx` keeps the weights as the file has them (int8 codes and
their scales, multiplied out when the graph is loaded; activations in float: a quarter of the
download) and
`*.float.onnx` has them dequantized. Both compute the same float network; which one the
browser loads is chosen by measurement (bench/browser.md). Nothing here is downloaded: the
graphs are made from the weights file alone, so restyle's native picture and the browser's come
from the same numbers.
"""

import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

STYLE_SIZE = 256
STYLE_DIMS = 100
OPSET = 17
# MobileNetV2's table (Sandler et al. 2018): expansion, output channels, repeats, first stride.
MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]


class Graph:
    """A growing ONNX graph: nodes, initializers and fresh names."""

    def __init__(self, weights, int8):
        self.weights, self.int8 = weights, int8
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint, value):
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv_weight(self, scope):
        codes = self.weights[f"{scope}.weight"]
        scale = self.weights[f"{scope}.weight_scale"].astype(np.float32)
        if not self.int8:
            value = codes.astype(np.float32) * scale.reshape(-1, 1, 1, 1)
            return self.const(f"{scope}.weight", value.astype(np.float32))
        # Cast and Mul of constants, not DequantizeLinear: onnxruntime folds these into float
        # weights when it loads the graph, but keeps DequantizeLinear (for its quantized
        # kernels) and runs it on every call, which made the style network 2.8 times as slow
        # in onnxruntime-web. codes * scale in float32, as restyle's loader computes it.
        codes_name = self.const(f"{scope}.weight_codes", codes.astype(np.int8))
        scale_name = self.const(f"{scope}.weight_scale", scale.reshape(-1, 1, 1, 1))
        cast = self.op("Cast", [codes_name], f"{scope}.weight_float", to=TensorProto.FLOAT)
        return self.op("Mul", [cast, scale_name], f"{scope}.weight")

    def conv(self, x, scope, stride=1, pads=(0, 0, 0, 0), groups=1):
        """`scope`'s convolution; pads are ONNX's (top, left, bottom, right) zeros."""
        w = self.conv_weight(scope)
        b = self.const(f"{scope}.bias", self.weights[f"{scope}.bias"].astype(np.float32))
        kernel = self.weights[f"{scope}.weight"].shape[2]
        return self.op("Conv", [x, w, b], scope, kernel_shape=[kernel, kernel],
                       strides=[stride, stride], pads=list(pads), group=groups)

    def relu6(self, x):
        return self.op("Clip", [x, self.const("zero", np.float32(0)),
                                self.const("six", np.float32(6))])

    def reflect(self, x, p):
        pads = self.const("pads", np.array([0, 0, p, p, 0, 0, p, p], np.int64))
        return self.op("Pad", [x, pads], mode="reflect")

    def model(self, inputs, outputs, name):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="restyle tools/export_fast_onnx.py")
        model.ir_version = 8  # onnxruntime-web and older onnxruntime read IR 8
        onnx.checker.check_model(model, full_check=True)
        return model


# TensorFlow's SAME padding of a stride-2 3x3 on an even size: one zero row and column after.
SAME_STRIDE_2 = (0, 0, 1, 1)


def style_network(weights, int8):
    """P: MobileNetV2, global average pooling, a 1x1 convolution to 100 numbers."""
    g = Graph(weights, int8)
    x = g.relu6(g.conv("style", "MobilenetV2/Conv", 2, SAME_STRIDE_2))
    cin, index = 32, 0
    for t, c, n, s in MOBILENET_V2:
        for repeat in range(n):
            scope = "MobilenetV2/expanded_conv" + (f"_{index}" if index else "")
            stride = s if repeat == 0 else 1
            hidden = g.relu6(g.conv(x, f"{scope}/expand")) if t != 1 else x
            pads = SAME_STRIDE_2 if stride == 2 else (1, 1, 1, 1)
            hidden = g.relu6(g.conv(hidden, f"{scope}/depthwise", stride, pads, cin * t))
            y = g.conv(hidden, f"{scope}/project")
            x = g.op("Add", [y, x]) if stride == 1 and cin == c else y
            cin, index = c, index + 1
    x = g.op("GlobalAveragePool", [g.relu6(g.conv(x, "MobilenetV2/Conv_1"))])
    x = g.conv(x, "mobilenet_conv/Conv")
    g.op("Reshape", [x, g.const("shape", np.array([1, STYLE_DIMS], np.int64))], "vector")
    g.nodes[-1].output[0] = "vector"
    inputs = [helper.make_tensor_value_info("style", TensorProto.FLOAT,
                                            [1, 3, STYLE_SIZE, STYLE_SIZE])]
    outputs = [helper.make_tensor_value_info("vector", TensorProto.FLOAT, [1, STYLE_DIMS])]
    return g.model(inputs, outputs, "restyle_fast_style")


def transformer(weights, int8):
    """T: contract, five residual blocks, expand; conditional instance normalisations."""
    g = Graph(weights, int8)
    eps = float(weights["transformer/instance_norm_epsilon"][0])
    style = g.op("Reshape", ["vector", g.const("shape", np.array([1, STYLE_DIMS, 1, 1], np.int64))])

    def norm_conv(x, scope, channels, upsample=False):
        if upsample:
            scales = g.const("scales", np.array([1, 1, 2, 2], np.float32))
            x = g.op("Resize", [x, "", scales], mode="nearest",
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        kernel = weights[f"{scope}.weight"].shape[2]
        y = g.conv(g.reflect(x, kernel // 2), scope)
        # Instance norm to zero mean and unit variance, then the style's scale and shift
        # (1x1 projections of the vector: `Conv_1` scales, `Conv` shifts, as in model.rs).
        y = g.op("InstanceNormalization", [y, g.const("ones", np.ones(channels, np.float32)),
                                           g.const("zeros", np.zeros(channels, np.float32))],
                 epsilon=eps)
        gamma = g.conv(style, f"style_params/{scope}/StyleNorm/Conv_1")
        beta = g.conv(style, f"style_params/{scope}/StyleNorm/Conv")
        return g.op("Add", [g.op("Mul", [y, gamma]), beta])

    x = "content"
    for i, (kernel, stride) in enumerate([(9, 1), (3, 2), (3, 2)], 1):
        x = g.op("Relu", [g.conv(g.reflect(x, kernel // 2), f"transformer/contract/conv{i}",
                                 stride)])
    for r in range(1, 6):
        scope = f"transformer/residual/residual{r}"
        h = g.op("Relu", [norm_conv(x, f"{scope}/conv1", 32)])
        x = g.op("Add", [norm_conv(h, f"{scope}/conv2", 32), x])
    x = g.op("Relu", [norm_conv(x, "transformer/expand/conv1/conv", 16, upsample=True)])
    x = g.op("Relu", [norm_conv(x, "transformer/expand/conv2/conv", 8, upsample=True)])
    x = g.op("Sigmoid", [norm_conv(x, "transformer/expand/conv3/conv", 3)])
    # The top-left height x width: the contractions round odd sides up.
    size = g.op("Shape", ["content"], start=2, end=4)
    g.op("Slice", [x, g.const("starts", np.array([0, 0], np.int64)), size,
                   g.const("axes", np.array([2, 3], np.int64))])
    g.nodes[-1].output[0] = "picture"
    inputs = [
        helper.make_tensor_value_info("content", TensorProto.FLOAT, [1, 3, "height", "width"]),
        helper.make_tensor_value_info("vector", TensorProto.FLOAT, [1, STYLE_DIMS]),
    ]
    outputs = [helper.make_tensor_value_info("picture", TensorProto.FLOAT,
                                             [1, 3, "height", "width"])]
    return g.model(inputs, outputs, "restyle_fast_transformer")


def export(weights_path, out_dir):
    weights = load_file(str(weights_path))
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, int8 in (("int8", True), ("float", False)):
        for name, build in (("style", style_network), ("transformer", transformer)):
            path = out / f"{name}.{kind}.onnx"
            # Written byte for byte the same on every run (no timestamps in ONNX).
            path.write_bytes(build(weights, int8).SerializeToString())
            written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    for path in export(*sys.argv[1:]):
        print(f"{path}: {path.stat().st_size} bytes")
