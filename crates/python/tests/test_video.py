"""restyle.stylize_video: a clip painted and written, as `restyle video` does it."""

import os
import shutil
import subprocess

import pytest
from PIL import Image

import restyle
from conftest import need


def moving_square_gif(path, frames=4):
    pictures = []
    for i in range(frames):
        image = Image.new("RGB", (48, 32), (20, 60, 120))
        image.paste((250, 250, 240), (4 + 6 * i, 8, 16 + 6 * i, 24))
        pictures.append(image)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=100, loop=0)


def test_a_gif_is_painted_frame_for_frame_without_ffmpeg(tmp_path, images):
    src, dst = tmp_path / "in.gif", tmp_path / "out.gif"
    moving_square_gif(src)
    seen = []
    info = restyle.stylize_video(src, images["style"], dst, callback=lambda f, t: seen.append((f, t)))
    assert info == {"frames": 4, "width": 48, "height": 32, "stopped": False}
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    out = Image.open(dst)
    assert out.n_frames == 4 and out.size == (48, 32)
    # A style is painted: the first frame is not the input's.
    first_in = Image.open(src).convert("RGB")
    out.seek(0)
    assert out.convert("RGB").tobytes() != first_in.tobytes()
    # The output is not replaced unless asked; a callback's False stops after that frame.
    with pytest.raises(ValueError, match="already exists"):
        restyle.stylize_video(src, images["style"], dst)
    info = restyle.stylize_video(src, images["style"], dst, overwrite=True, callback=lambda f, t: f < 2)
    assert info["frames"] == 2 and info["stopped"]


def test_bad_requests_raise_with_the_command_lines_words(tmp_path, images):
    src = tmp_path / "in.gif"
    moving_square_gif(src)
    with pytest.raises(ValueError, match="strength must be between 0 and 1"):
        restyle.stylize_video(src, images["style"], tmp_path / "o.gif", strength=3)
    with pytest.raises(ValueError, match="iterations applies to method gatys; method fast paints in one pass"):
        restyle.stylize_video(src, images["style"], tmp_path / "o.gif", iterations=3)
    with pytest.raises(ValueError, match="writes .mp4"):
        restyle.stylize_video(src, images["style"], tmp_path / "o.avi")
    with pytest.raises(FileNotFoundError, match="ffmpeg"):
        restyle.stylize_video(src, images["style"], tmp_path / "o.mp4", ffmpeg=tmp_path / "nope")


def test_an_mp4_keeps_its_sound(tmp_path, images):
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        need("ffmpeg and ffprobe on PATH (Debian: apt-get install ffmpeg)")
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", "-c:v", "libx264",
         "-pix_fmt", "yuv420p", "-c:a", "aac", str(src)],
        check=True,
    )
    info = restyle.stylize_video(src, images["style"], dst, size=64)
    assert info["frames"] == 10 and (info["width"], info["height"]) == (64, 48)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", str(dst)],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    assert sorted(probe) == ["audio", "video"]
    assert os.path.getsize(dst) > 0
