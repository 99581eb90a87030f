"""One request, three front ends: the same bad requests, given to the command line, to
Python and to the web server's API, are refused by all three with the same words (the
library's, restyle-request's). Each request is written once, by its options' one names."""

import json
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest
from PIL import Image

import restyle

# (options, the words every front end says). Only options all three take: the page's API
# has no `strength`, and its operator's limits (size, iterations) differ from a person's.
BAD_REQUESTS = [
    (dict(method="fast", iterations=5), "iterations applies to method gatys; method fast paints in one pass"),
    (dict(method="fast", style_weight=5), "style_weight applies to method gatys; method fast paints in one pass"),
    (dict(method="fast", init="noise"), "init applies to method gatys; method fast paints in one pass"),
    (dict(method="fast", seed=3), "seed applies to method gatys; method fast paints in one pass"),
    (dict(style_weight=-1), "style_weight must be a number >= 0, not -1"),
    (dict(tv_weight=-2), "tv_weight must be a number >= 0, not -2"),
    (dict(style_scale=0), "style_scale must be a number > 0, not 0"),
    (dict(method="slow"), "method must be gatys or fast, not `slow`"),
    (dict(preserve_colors="sepia"), "preserve_colors must be none, luminance or histogram, not `sepia`"),
    (dict(size=64, style_scale=0.1, iterations=2), "style image 1 would be 6x"),
    (dict(method="fast", size=64, style="tiny"), "style image 1 is 20x20: the fast method needs at least 32x32 pixels"),
]


@pytest.fixture(scope="module")
def pictures(images, tmp_path_factory):
    """The shared photo and painting, and a painting too small for the fast method."""
    folder = tmp_path_factory.mktemp("one-request")
    tiny = str(folder / "tiny.png")
    Image.open(images["style"]).resize((20, 20)).save(tiny)
    return dict(content=images["content"], style=images["style"], tiny=tiny)


@pytest.fixture(scope="module")
def server(restyle_command, tmp_path_factory):
    """`restyle serve` on a free port, with its own data folder; its address."""
    data = tmp_path_factory.mktemp("serve-data")
    process = subprocess.Popen(
        [restyle_command, "serve", "--listen", "127.0.0.1:0", "--data", str(data), "--workers", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "listening on " in line, f"restyle serve said: {line!r}"
        yield line.split("listening on ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=30)


def split(options, pictures):
    """The options without the painting's choice, and the painting."""
    options = dict(options)
    style = pictures[options.pop("style", "style")]
    return options, style


def through_python(options, pictures):
    options, style = split(options, pictures)
    with pytest.raises(ValueError) as raised:
        restyle.stylize(pictures["content"], style, **options)
    return str(raised.value)


def through_the_command_line(restyle_command, options, pictures, tmp_path):
    options, style = split(options, pictures)
    args = [restyle_command, pictures["content"], style, "-o", str(tmp_path / "out.png")]
    for name, value in options.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert not (tmp_path / "out.png").exists()
    return run.stderr


def through_the_api(server, options, pictures):
    options, style = split(options, pictures)
    boundary = uuid.uuid4().hex
    parts = []
    for name, path in [("content", pictures["content"]), ("style", style)]:
        with open(path, "rb") as f:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\n'
                f"Content-Type: image/png\r\n\r\n".encode() + f.read() + b"\r\n"
            )
    for name, value in options.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        server + "/api/jobs",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": server},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=60)
    assert raised.value.code in (400, 422), raised.value.code
    return json.loads(raised.value.read())["error"]


@pytest.mark.parametrize("options, words", BAD_REQUESTS, ids=[str(o) for o, _ in BAD_REQUESTS])
def test_every_front_end_refuses_a_bad_request_in_the_same_words(
    options, words, pictures, restyle_command, server, tmp_path
):
    said = {
        "python": through_python(options, pictures),
        "command line": through_the_command_line(restyle_command, options, pictures, tmp_path),
        "web API": through_the_api(server, options, pictures),
    }
    for front_end, message in said.items():
        assert words in message, f"{front_end} said {message!r}"
    # And nothing else: Python and the API say exactly the request's words, the command line
    # the same after its "restyle: error: " (or clap's "invalid value" preamble).
    assert said["python"] == said["web API"], said
