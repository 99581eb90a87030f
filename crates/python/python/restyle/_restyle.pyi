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
    *,
    size: Optional[int] = None,
    weights: Optional[List[float]] = None,
    iterations: Optional[int] = None,
    preserve_colors: Optional[str] = None,
    method: str = "gatys",
    strength: Optional[float] = None,
    init: Optional[Union[str, Source]] = None,
    seed: int = 0,
    optimizer: str = "lbfgs",
    learning_rate: Optional[float] = None,
    style_weight: Optional[float] = None,
    content_weight: Optional[float] = None,
    tv_weight: Optional[float] = None,
    style_scale: float = 1.0,
    content_layers: str = ...,
    style_layers: str = ...,
    scales: Optional[int] = None,
    start_size: Optional[int] = None,
    refine_iterations: Optional[int] = None,
    tile: bool = False,
    tile_size: Optional[int] = None,
    tile_overlap: int = 128,
    max_memory: Optional[str] = None,
    stop_tolerance: float = ...,
    lbfgs_history: int = ...,
    vgg_weights: Optional[str] = None,
    threads: Optional[int] = None,
    callback: Optional[StepCallback] = None,
    preview: bool = False,
    masks: Optional[List[Source]] = None,
    style_masks: Optional[List[Source]] = None,
    keep: Optional[Source] = None,
    seamless: bool = False,
) -> Tuple[Pixels, Dict[str, Any]]:
    """Style transfer: the picture and a dict of what the run did (steps, stopped, losses)."""

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
    *,
    method: str,
    weights: Optional[List[float]],
    size: Optional[int],
    start: Optional[float],
    duration: Optional[float],
    strength: Optional[float],
    preserve_colors: Optional[str],
    masks: Optional[List[Source]],
    keep: Optional[Source],
    steady: bool,
    iterations: Optional[int],
    later_iterations: Optional[int],
    ffmpeg: Optional[str],
    resume: bool,
    overwrite: bool,
    threads: Optional[int],
    callback: Optional[Callable[[int, Optional[int]], bool]],
) -> Tuple[int, int, int, bool]:
    """A clip painted and written: (frames, width, height, stopped)."""
