"""Type hints for the native module; users call :mod:`restyle`, which documents every keyword."""

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

# A path, PNG bytes (PIL images), or (height, width, channels, "u8" | "u16" | "f32",
# little-endian bytes) (numpy arrays).
Source = Union[str, bytes, Tuple[int, int, int, str, bytes]]
# (width, height, RGB bytes)
Pixels = Tuple[int, int, bytes]
StepCallback = Callable[[int, int, Dict[str, float], Optional[Pixels]], bool]

__version__: str

def stylize(
    content: Source,
    styles: List[Source],
    options: Dict[str, Any],
    *,
    masks: Optional[List[Source]] = None,
    style_masks: Optional[List[Source]] = None,
    keep: Optional[Source] = None,
    init_image: Optional[Source] = None,
    threads: Optional[int] = None,
    callback: Optional[StepCallback] = None,
    preview: bool = False,
) -> Tuple[Pixels, Dict[str, Any]]:
    """Style transfer: the picture and a dict of what the run did (steps, stopped, losses).

    ``options``: the request's keywords that were given (method, size, style_blend_weights,
    strength, preserve_colors, init, iterations, seed, ...), by the names ``restyle.stylize``
    documents."""

def reconstruct(
    content: Source,
    style: Source,
    *,
    size: int = 256,
    iterations: int = 300,
    layers: List[int] = ...,
    cumulative: bool = False,
    seed: int = 0,
    optimizer: str = "lbfgs",
    learning_rate: Optional[float] = None,
    vgg_weights: Optional[str] = None,
    threads: Optional[int] = None,
    callback: Optional[StepCallback] = None,
    preview: bool = False,
) -> Tuple[Pixels, Dict[str, Any]]:
    """Gatys et al.'s figure 1 as a labelled grid, and a dict (stopped)."""

def stylize_video(
    src: str,
    styles: List[Source],
    dst: str,
    options: Dict[str, Any],
    *,
    masks: Optional[List[Source]],
    keep: Optional[Source],
    start: Optional[float],
    duration: Optional[float],
    steady: bool,
    later_iterations: Optional[int],
    ffmpeg: Optional[str],
    resume: bool,
    overwrite: bool,
    threads: Optional[int],
    callback: Optional[Callable[[int, Optional[int]], bool]],
) -> Tuple[int, int, int, bool]:
    """A clip painted and written: (frames, width, height, stopped). ``options``: the still
    picture's keywords that were given (method, size, style_blend_weights, strength,
    preserve_colors, iterations)."""
