"""restyle.stylize and restyle.reconstruct: inputs, outputs, progress and stopping."""

import _thread
import threading

import numpy as np
import pytest
from PIL import Image

import restyle

# Small and short, so that each run takes a second or less.
QUICK = dict(size=64, iterations=3)


def pixels(image):
    return np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)


def test_paths_give_a_pil_image_at_the_asked_size(images):
    out = restyle.stylize(images["content"], images["style"], **QUICK)
    assert isinstance(out, Image.Image)
    assert out.mode == "RGB"
    w, h = Image.open(images["content"]).size
    assert out.size == (64, round(h * 64 / w))
    # Three steps moved the picture away from the photo it started from.
    start = Image.open(images["content"]).resize(out.size, Image.LANCZOS)
    assert np.abs(pixels(out).astype(int) - pixels(start).astype(int)).mean() > 1.0


def test_pil_and_numpy_inputs_read_as_the_file(images):
    by_path = pixels(restyle.stylize(images["content"], images["style"], **QUICK))
    content, style = Image.open(images["content"]), Image.open(images["style"])
    by_pil = restyle.stylize(content, style, **QUICK)
    assert isinstance(by_pil, Image.Image)
    assert np.array_equal(pixels(by_pil), by_path)

    array = np.asarray(content.convert("RGB"))
    by_array = restyle.stylize(array, style, **QUICK)
    assert isinstance(by_array, np.ndarray)
    assert by_array.dtype == np.uint8 and by_array.shape == by_path.shape
    assert np.array_equal(by_array, by_path)
    # Floats in 0..1 are the same picture (u8 / 255, as a decoder makes it).
    as_float = restyle.stylize(array.astype(np.float64) / 255, style, **QUICK)
    assert np.array_equal(as_float, by_path)


def test_grey_and_alpha_arrays_are_read_as_files_are(images, tmp_path):
    grey = Image.open(images["content"]).convert("L")
    grey_path = str(tmp_path / "grey.png")
    grey.save(grey_path)
    from_file = pixels(restyle.stylize(grey_path, images["style"], **QUICK))
    from_array = restyle.stylize(np.asarray(grey), images["style"], **QUICK)
    assert np.array_equal(from_array, from_file)

    # 16 bits a value, as a file and as an array.
    deep = (np.asarray(grey).astype(np.uint16) * 257 + 3).astype(np.uint16)
    deep_path = str(tmp_path / "deep.png")
    Image.fromarray(deep).save(deep_path)
    assert Image.open(deep_path).mode == "I;16"
    from_deep_file = pixels(restyle.stylize(deep_path, images["style"], **QUICK))
    assert np.array_equal(restyle.stylize(deep, images["style"], **QUICK), from_deep_file)

    # Transparent pixels are composited over white: a fully transparent
    # picture is a white one.
    clear = np.zeros((48, 64, 4), dtype=np.uint8)
    white = np.full((48, 64, 3), 255, dtype=np.uint8)
    assert np.array_equal(
        restyle.stylize(clear, images["style"], **QUICK),
        restyle.stylize(white, images["style"], **QUICK),
    )


def test_several_styles_blend_by_weight(images):
    a = pixels(restyle.stylize(images["content"], images["style"], **QUICK))
    b = pixels(restyle.stylize(images["content"], images["style2"], **QUICK))
    only_a = restyle.stylize(
        images["content"], [images["style"], images["style2"]], style_blend_weights=[1, 0], **QUICK
    )
    assert np.array_equal(pixels(only_a), a)
    # The old name still works, with a warning.
    with pytest.warns(DeprecationWarning, match="style_blend_weights"):
        old = restyle.stylize(
            images["content"], [images["style"], images["style2"]], weights=[1, 0], **QUICK
        )
    assert np.array_equal(pixels(old), a)
    both = pixels(restyle.stylize(images["content"], [images["style"], images["style2"]], **QUICK))
    assert not np.array_equal(both, a) and not np.array_equal(both, b)


def test_a_callback_sees_every_step_and_can_stop_the_run(images):
    seen = []

    def stop_after_two(step, total, losses, preview):
        seen.append((step, total, sorted(losses), preview.size))
        return step < 2

    out = restyle.stylize(
        images["content"], images["style"], size=64, iterations=50, stop_tolerance=0,
        callback=stop_after_two,
    )
    assert [s[0] for s in seen] == [1, 2]
    assert all(s[1] == 50 for s in seen)
    assert seen[0][2] == ["content", "style", "total", "tv"]
    assert seen[0][3] == out.size
    # Stopped after two steps: the same picture as a two-step run.
    two = restyle.stylize(images["content"], images["style"], size=64, iterations=2, stop_tolerance=0)
    assert np.array_equal(pixels(out), pixels(two))


def test_an_exception_in_the_callback_stops_the_run_and_is_raised(images):
    def fail(step, total, losses, preview):
        raise LookupError("from the callback")

    with pytest.raises(LookupError, match="from the callback"):
        restyle.stylize(images["content"], images["style"], **QUICK, callback=fail)


def test_ctrl_c_stops_the_run_with_keyboard_interrupt(images):
    started = threading.Event()

    def first_step(step, total, losses, preview):
        started.set()
        return True

    def interrupt():
        started.wait()
        _thread.interrupt_main()  # what Ctrl-C or a notebook's interrupt does

    thread = threading.Thread(target=interrupt)
    thread.start()
    steps = []
    with pytest.raises(KeyboardInterrupt):
        restyle.stylize(
            images["content"], images["style"], size=64, iterations=10_000, stop_tolerance=0,
            callback=lambda *a: (steps.append(a[0]), first_step(*a))[1],
        )
    thread.join()
    assert 1 <= len(steps) < 10_000
    # The module is still usable after the interrupt.
    assert restyle.stylize(images["content"], images["style"], **QUICK).size[0] == 64


def test_the_gil_is_released_while_it_computes(images):
    counter = [0]
    done = threading.Event()

    def count():
        while not done.is_set():
            counter[0] += 1

    thread = threading.Thread(target=count)
    thread.start()
    try:
        before = counter[0]
        restyle.stylize(images["content"], images["style"], size=64, iterations=20, stop_tolerance=0)
        during = counter[0] - before
    finally:
        done.set()
        thread.join()
    # With the GIL held for the whole run, the counting thread would not run
    # at all (the run makes no Python calls without a callback).
    assert during > 1000


def test_progress_shows_a_bar(images, capsys):
    restyle.stylize(images["content"], images["style"], size=64, iterations=3, stop_tolerance=0,
                    progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err


def test_the_fast_method(images):
    out = restyle.stylize(images["content"], images["style"], method="fast", size=80)
    assert isinstance(out, Image.Image) and max(out.size) == 80
    own = restyle.stylize(images["content"], images["style"], method="fast", size=80, strength=0)
    assert not np.array_equal(pixels(out), pixels(own))
    as_array = restyle.stylize(np.asarray(Image.open(images["content"])), images["style"],
                               method="fast", size=80)
    assert np.array_equal(as_array, pixels(out))


def test_init_fast_and_init_image(images):
    fast_start = restyle.stylize(images["content"], images["style"], size=64, iterations=1, init="fast")
    image_start = restyle.stylize(
        images["content"], images["style"], size=64, iterations=1,
        init=restyle.stylize(images["content"], images["style"], method="fast", size=64),
    )
    assert fast_start.size == image_start.size
    # The fast picture saved and read back as 8 bits is a slightly different
    # start; both start from the same painting, so one step keeps them close.
    diff = np.abs(pixels(fast_start).astype(int) - pixels(image_start).astype(int))
    assert diff.mean() < 3


def test_reconstruct_makes_a_grid(images):
    grid = restyle.reconstruct(images["content"], images["style"], size=32, iterations=2, layers=[1, 2])
    assert isinstance(grid, Image.Image)
    # The inputs, then two reconstructions, in two rows: wider and taller than one cell.
    assert grid.width > 3 * 32 and grid.height > 2 * 16


def _halves(shape):
    """Masks of the left and right halves of a height x width picture."""
    height, width = shape
    left = np.zeros((height, width), np.uint8)
    left[:, : width // 2] = 255
    return left, 255 - left


def test_masks_put_each_painting_in_its_region():
    # A grey photo with soft stripes; a flat red and a flat blue "painting".
    y, x = np.mgrid[0:48, 0:64]
    grey = (128 + 30 * np.sin((x + y) * 0.3)).astype(np.uint8)
    photo = np.stack([grey] * 3, axis=-1)
    red = np.zeros((40, 40, 3), np.uint8) + np.array([217, 38, 25], np.uint8)
    blue = np.zeros((40, 40, 3), np.uint8) + np.array([25, 64, 217], np.uint8)
    left, right = _halves(photo.shape[:2])
    out = restyle.stylize(
        photo, [red, blue], masks=[left, right], size=64, iterations=40, content_weight=0.1
    ).astype(float)
    # Away from the border, each half leans to its own painting's colour.
    left_mean, right_mean = out[:, :24].mean(axis=(0, 1)), out[:, 40:].mean(axis=(0, 1))
    assert left_mean[0] > left_mean[2] + 30, left_mean
    assert right_mean[2] > right_mean[0] + 30, right_mean


def test_keep_leaves_the_part_as_the_photo(images):
    photo = np.asarray(Image.open(images["content"]).convert("RGB"))
    left, _ = _halves(photo.shape[:2])
    out = restyle.stylize(photo, images["style"], keep=left, size=photo.shape[1], iterations=5)
    kept = np.abs(out[:, : photo.shape[1] // 2 - 4].astype(int) - photo[:, : photo.shape[1] // 2 - 4])
    assert kept.mean() < 2.0, kept.mean()


def test_bad_masks_raise_value_errors(images):
    with pytest.raises(ValueError, match="masks has 2 mask"):
        restyle.stylize(images["content"], images["style"], masks=[images["style"]] * 2, **QUICK)
    black = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="black|blank|marks no"):
        restyle.stylize(images["content"], images["style"], masks=[black], **QUICK)
    with pytest.raises(ValueError, match="gatys"):
        restyle.stylize(images["content"], images["style"], style_masks=[images["style"]], method="fast", size=64)
    with pytest.raises(ValueError, match="black|blank|marks no"):
        restyle.stylize(images["content"], images["style"], keep=black, method="fast", size=64)


def test_the_fast_method_blends_one_picture_per_region_and_keeps_the_kept_part(images):
    photo = np.asarray(Image.open(images["content"]).convert("RGB"))
    h, w = photo.shape[:2]
    left, right = _halves((h, w))
    fast = dict(method="fast", size=w)
    a = restyle.stylize(photo, images["style"], **fast).astype(float)
    b = restyle.stylize(photo, images["style2"], **fast).astype(float)
    both = restyle.stylize(photo, [images["style"], images["style2"]], masks=[left, right], **fast)
    both = both.astype(float)
    middle = np.zeros((h, w), np.uint8)
    middle[:, w // 3 : 2 * w // 3] = 255
    kept = restyle.stylize(photo, images["style"], keep=middle, **fast).astype(float)
    assert both.shape == a.shape == (h, w, 3)
    # Away from the masks' soft middle, each half is that painting's picture.
    assert np.abs(both[:, : w // 2 - 4] - a[:, : w // 2 - 4]).mean() < 1.0
    assert np.abs(both[:, w // 2 + 4 :] - b[:, w // 2 + 4 :]).mean() < 1.0
    assert np.abs(a - b).mean() > 20.0, "the two paintings differ"
    inside = slice(w // 3 + 4, 2 * w // 3 - 4)
    assert np.abs(kept[:, inside] - photo[:, inside]).mean() < 3.0
    assert np.abs(kept[:, : w // 3 - 4] - a[:, : w // 3 - 4]).mean() < 1.0
