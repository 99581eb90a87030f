"""The package and the `restyle` command give the same picture for the same
settings and seed.

Both run the same library code on the same decoded pixels with the same
seed, and the engine's sums do not depend on thread timing, so the results
are identical; the command's picture is a PNG, rounded to 8 bits exactly as
the package rounds its result. The comparison is therefore exact (a
difference of even 1/255 would mean the two took different paths)."""

import subprocess

import numpy as np
from PIL import Image

import restyle


def run_cli(command, *args):
    done = subprocess.run([command, *args, "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_gatys_equals_the_command(images, restyle_command, tmp_path):
    out = tmp_path / "cli.png"
    settings = dict(size=64, iterations=6, seed=7, init="noise", style_weight=20.0,
                    preserve_colors="luminance")
    run_cli(restyle_command, images["content"], images["style"], "-o", str(out),
            "--size", "64", "--iterations", "6", "--seed", "7", "--init", "noise",
            "--style-weight", "20", "--preserve-colors", "luminance")
    ours = restyle.stylize(images["content"], images["style"], **settings)
    assert np.array_equal(np.asarray(ours), np.asarray(Image.open(out).convert("RGB")))


def test_fast_equals_the_command(images, restyle_command, tmp_path):
    out = tmp_path / "cli-fast.png"
    run_cli(restyle_command, images["content"], images["style"], images["style2"], "-o", str(out),
            "--method", "fast", "--size", "72", "--strength", "0.8",
            "--style-blend-weights", "2,1")
    ours = restyle.stylize(images["content"], [images["style"], images["style2"]], method="fast",
                           size=72, strength=0.8, style_blend_weights=[2, 1])
    assert np.array_equal(np.asarray(ours), np.asarray(Image.open(out).convert("RGB")))


def test_reconstruct_equals_the_command(images, restyle_command, tmp_path):
    out = tmp_path / "grid.png"
    run_cli(restyle_command, "reconstruct", images["content"], images["style"], "-o", str(out),
            "--size", "32", "--iterations", "2", "--layers", "1,2", "--seed", "3")
    ours = restyle.reconstruct(images["content"], images["style"], size=32, iterations=2,
                               layers=[1, 2], seed=3)
    assert np.array_equal(np.asarray(ours), np.asarray(Image.open(out).convert("RGB")))
