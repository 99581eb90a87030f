"""The repository's example pictures, by name, for the benchmark scripts."""

import os
import sys

IMAGES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "images")


def image_path(name, kind):
    """`examples/images/KIND/NAME.jpg` (or `.png`); exits if there is neither."""
    for ext in (".jpg", ".png"):
        path = os.path.join(IMAGES, kind, name + ext)
        if os.path.exists(path):
            return path
    sys.exit(f"no {kind} image named {name} in {IMAGES}/{kind}")
