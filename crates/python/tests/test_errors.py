"""Every kind of bad input: ValueError for settings, OSError for files, TypeError
for things that are not images; with the command line's messages."""

import numpy as np
import pytest
from PIL import Image

import restyle

QUICK = dict(size=64, iterations=2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(size=0), "size must be at least 1, not 0"),
        (dict(size=4), "raise size, or style_scale"),
        (dict(iterations=-1), "iterations must be at least 0, not -1"),
        (dict(style_weight=-1), "style_weight must be a number >= 0, not -1"),
        (dict(tv_weight=float("nan")), "tv_weight must be a number >= 0"),
        (dict(style_scale=0), "style_scale must be a number > 0, not 0"),
        (dict(learning_rate=-0.5), "the learning rate must be a number > 0"),
        (dict(style_blend_weights=[1, 2]), "style_blend_weights has 2 value(s) but 1 style image(s) were given"),
        (dict(style_blend_weights=[0]), "style_blend_weights must be numbers >= 0 with a positive sum"),
        (dict(method="slow"), "method must be gatys or fast, not `slow`"),
        (dict(optimizer="sgd"), "optimizer must be lbfgs or adam, not `sgd`"),
        (dict(preserve_colors="sepia"), "preserve_colors must be"),
        (dict(style_layers="relu9_9"), "style_layers: unknown layer `relu9_9`"),
        (dict(content_layers=["conv4_2:x"]), "content_layers: `x` is not a weight"),
        (dict(strength=0.5), "strength applies to method fast; for method gatys use style_weight"),
        (dict(stop_tolerance=-1), "stop_tolerance must be a number >= 0"),
        (dict(lbfgs_history=0), "lbfgs_history must be at least 1"),
        (dict(tile=True, tile_size=32), "tile_size must be at least 64"),
        (dict(max_memory="lots"), "max_memory: `lots` is not a size"),
        (dict(threads=0), "threads must be at least 1"),
        (dict(method="fast", strength=2), "strength must be between 0 and 1, not 2"),
        (dict(method="fast", iterations=5), "iterations applies to method gatys; method fast paints in one pass"),
        (dict(method="fast", init="noise"), "init applies to method gatys"),
        (dict(method="fast", seamless=True), "seamless applies to method gatys"),
        (dict(method="fast", size=4), "the fast method needs at least 8 pixels a side"),
    ],
)
def test_bad_settings_raise_value_error(images, kwargs, message):
    base = dict(size=64) if kwargs.get("method") == "fast" else dict(QUICK)
    settings = dict(base, **kwargs)
    with pytest.raises(ValueError) as raised:
        restyle.stylize(images["content"], images["style"], **settings)
    assert message in str(raised.value)


def test_missing_and_unreadable_files_raise_os_error(images, tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot use the content image: cannot read"):
        restyle.stylize(str(tmp_path / "nowhere.png"), images["style"], **QUICK)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(OSError, match="is not an image restyle can read"):
        restyle.stylize(images["content"], text, **QUICK)
    with pytest.raises(OSError):
        restyle.stylize(images["content"], images["style"], vgg_weights=tmp_path / "vgg.pth", **QUICK)
    with pytest.raises(FileNotFoundError, match="init"):
        restyle.stylize(images["content"], images["style"], init=str(tmp_path / "start.png"), **QUICK)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((0, 10, 3), np.uint8), "has no pixels (10x0)"),
        (np.zeros((10, 10, 5), np.uint8), "of shape (10, 10, 5)"),
        (np.full((40, 40, 3), 1.5), "float values must lie in 0..1"),
        (np.full((40, 40, 3), np.nan, np.float32), "float values must lie in 0..1"),
        (np.zeros((40, 40, 3), np.int64), "not int64"),
        (np.zeros((2, 40, 40, 3), np.uint8), "of shape (2, 40, 40, 3)"),
    ],
)
def test_bad_arrays_raise_value_error(images, array, message):
    with pytest.raises(ValueError) as raised:
        restyle.stylize(array, images["style"], **QUICK)
    assert message in str(raised.value)


def test_things_that_are_not_images_raise_type_error(images):
    with pytest.raises(TypeError, match="the content image must be a path, a PIL image or a numpy array, not int"):
        restyle.stylize(42, images["style"], **QUICK)
    with pytest.raises(TypeError, match="style image"):
        restyle.stylize(images["content"], [images["style"], None], **QUICK)


def test_style_images_the_fast_method_cannot_read(images):
    flat = Image.new("RGB", (64, 64), (200, 30, 30))
    with pytest.raises(ValueError, match="style image 1 is one flat colour"):
        restyle.stylize(images["content"], flat, method="fast", size=64)
    tiny = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match="is 8x8: the fast method needs at least 32x32"):
        restyle.stylize(images["content"], tiny, method="fast", size=64)


def test_reconstruct_checks_its_settings(images):
    with pytest.raises(ValueError, match="VGG-19 has blocks 1 to 5, not 6"):
        restyle.reconstruct(images["content"], images["style"], layers=[6])
    with pytest.raises(ValueError, match="layers must be at least 1, not 0"):
        restyle.reconstruct(images["content"], images["style"], layers=[0])
    with pytest.raises(ValueError, match="reconstructions need a size of at least 16"):
        restyle.reconstruct(images["content"], images["style"], size=8)
