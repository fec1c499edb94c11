"""Movies of a run's snapshots: a GIF (Pillow, always there with matplotlib) or an MP4
(needs ffmpeg on the PATH)."""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from nedsym.errors import ConfigError
from nedsym.plot.fields import _axes_of, _field_array, _image

__all__ = ["write_movie"]


def write_movie(result: Any, grid: Any, path: str | os.PathLike, *, field: int = 0,
                fps: int = 10, cmap: str = "viridis") -> str:
    """Write the snapshots of ``result`` (one frame each) as ``.gif`` or ``.mp4``.

    1-D fields are drawn as a line, 2-D as an image at the domain's aspect ratio with one
    colour scale for the whole movie, 3-D as the mid-plane ``z`` slice.

    Example
    -------
    >>> from nedsym.solve import Result
    >>> r = Result(fields=np.zeros((3, 1, 8)), times=np.arange(3.0), final=np.zeros((1, 8)))
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.gif"
    >>> write_movie(r, None, p, fps=5).endswith("m.gif")
    True
    """
    from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter

    path = str(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".gif", ".mp4"):
        raise ConfigError(f"--movie {path!r}: write a .gif or .mp4 file")
    if ext == ".mp4" and shutil.which("ffmpeg") is None:
        raise ConfigError("an .mp4 movie needs ffmpeg on the PATH; write a .gif instead")
    frames = [_field_array(result.fields[i], field, 0, grid) for i in range(len(result.times))]
    if not frames:
        raise ConfigError("the run has no snapshots to make a movie of")
    if frames[0].ndim == 3:
        frames = [u[:, :, u.shape[2] // 2] for u in frames]
    axes = _axes_of(grid, frames[0].shape)
    meta = getattr(result, "metadata", None) or {}
    names = tuple(meta.get("dims") or getattr(grid, "axis_names", ("x", "y", "z")))
    label = (meta.get("fields") or [f"field {field}"] * (field + 1))[field]
    lo = float(min(u.min() for u in frames))
    hi = float(max(u.max() for u in frames))
    fig = Figure(figsize=(5.2, 4.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    if frames[0].ndim == 1:
        (line,) = ax.plot(axes[0], frames[0])
        pad = 0.05 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(names[0])
        ax.set_ylabel(label)

        def draw(k):
            line.set_ydata(frames[k])
            ax.set_title(f"{label}, t = {result.times[k]:.4g}")
            return (line,)
    else:
        im = _image(ax, fig, frames[0], axes[0], axes[1], (names[0], names[1]), cmap, lo, hi)

        def draw(k):
            im.set_data(np.asarray(frames[k]).T)
            ax.set_title(f"{label}, t = {result.times[k]:.4g}")
            return (im,)
    anim = FuncAnimation(fig, draw, frames=len(frames), blit=False)
    writer = PillowWriter(fps=fps) if ext == ".gif" else FFMpegWriter(fps=fps)
    anim.save(path, writer=writer, dpi=100)
    return path
