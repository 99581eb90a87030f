"""Shared fixtures: small test pictures, and the `restyle` command for comparisons."""

import os
import shutil

import pytest
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples", "images")


def need(what):
    """Skips a test that needs something absent from this machine, or fails it
    where every test must run (CI sets RESTYLE_REQUIRE_ALL_TESTS=1)."""
    if os.environ.get("RESTYLE_REQUIRE_ALL_TESTS") == "1":
        pytest.fail(f"required: {what}")
    pytest.skip(f"skipped: {what}")


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """The example photo and painting, shrunk and saved as PNG (PNG so that a
    PIL image, a numpy array and the file hold exactly the same pixels)."""
    folder = tmp_path_factory.mktemp("images")
    paths = {}
    for name, source in [
        ("content", "content/chelsea.png"),
        ("style", "style/starry_night.jpg"),
        ("style2", "style/the_scream.jpg"),
    ]:
        image = Image.open(os.path.join(EXAMPLES, source)).convert("RGB")
        image.thumbnail((96, 96))
        paths[name] = str(folder / f"{name}.png")
        image.save(paths[name])
    return paths


@pytest.fixture(scope="session")
def restyle_command():
    """The `restyle` binary: $RESTYLE_BIN, or the workspace's release or debug build."""
    candidates = [os.environ.get("RESTYLE_BIN")] + [
        os.path.join(ROOT, "target", profile, "restyle") for profile in ("release", "debug")
    ]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    found = shutil.which("restyle")
    if found:
        return found
    need("the restyle command (cargo build, or set RESTYLE_BIN)")
