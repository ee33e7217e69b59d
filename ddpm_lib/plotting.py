"""Labelled figure helpers for the lessons: image grids, point clouds and schedule curves.

Each helper draws on an ``Axes`` the caller passes in, or on a new figure when it gets ``None``.
It returns the artist it created, so an explorer can keep that artist and update it with
``set_data`` instead of drawing a new figure on every slider move.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D

if TYPE_CHECKING:
    from .schedules import NoiseSchedule

# Fixed display range of images: x₀ lives in [−1, 1], and noisier x_t are clipped to it.
IMAGE_VMIN, IMAGE_VMAX = -1.0, 1.0
# Fixed half-width of the point-cloud axes: x_t of points in [−1, 1] stays inside ±3.5 with
# probability above 0.999 per coordinate, because x_t = √ᾱ x₀ + √(1 − ᾱ) ε with ε ~ N(0, 1).
POINT_CLOUD_LIMIT = 3.5


def _as_numpy(values: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().float().numpy()
    if isinstance(values, np.ndarray):
        return values.astype(np.float32, copy=False)
    raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got {type(values).__name__}")


def _resolve_axes(ax_or_fig: Axes | Figure | None) -> Axes:
    """Return an Axes to draw on: the one given, a figure's only Axes, or a new figure's Axes."""
    if ax_or_fig is None:
        _, ax = plt.subplots()
        return ax
    if isinstance(ax_or_fig, Axes):
        return ax_or_fig
    if isinstance(ax_or_fig, Figure):
        return ax_or_fig.axes[0] if len(ax_or_fig.axes) == 1 else ax_or_fig.add_subplot()
    raise TypeError(f"expected a matplotlib Axes, Figure or None, got {type(ax_or_fig).__name__}")


def tile_images(images: torch.Tensor | np.ndarray, nrow: int | None = None, padding: int = 1) -> np.ndarray:
    """Tile a batch of one-channel images into one 2-D array, row by row.

    Args:
        images: shape (B, 1, H, W) or (B, H, W), any real values.
        nrow: images per row; default ⌈√B⌉.
        padding: pixels between tiles, filled with ``IMAGE_VMIN`` (black).
    Returns:
        a float32 array of shape (rows·(H + padding) − padding, nrow·(W + padding) − padding).
    """
    array = _as_numpy(images, "images")
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[0] == 0:
        raise ValueError(f"images must have shape (B, 1, H, W) or (B, H, W) with B ≥ 1, got {array.shape}")
    count, height, width = array.shape
    nrow = math.ceil(math.sqrt(count)) if nrow is None else nrow
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be a positive int, got {nrow!r}")
    rows = math.ceil(count / nrow)
    canvas = np.full(
        (rows * (height + padding) - padding, nrow * (width + padding) - padding), IMAGE_VMIN, dtype=np.float32
    )
    for index in range(count):
        top, left = (index // nrow) * (height + padding), (index % nrow) * (width + padding)
        canvas[top : top + height, left : left + width] = array[index]
    return canvas


def show_image_grid(
    ax_or_fig: Axes | Figure | None,
    images: torch.Tensor | np.ndarray,
    nrow: int | None = None,
    title: str | None = None,
    padding: int = 1,
) -> AxesImage:
    """Draw a batch of one-channel images in [−1, 1] as one grid, in grey, with fixed limits.

    Values outside [−1, 1] (noisy x_t) are shown clipped to it; the data are not changed.

    Args:
        ax_or_fig: the Axes to draw on, a Figure with one Axes, or ``None`` for a new figure.
        images: shape (B, 1, H, W) or (B, H, W), x₀ in [−1, 1] or any x_t.
        nrow: images per row; default ⌈√B⌉.
        title: the Axes title.
        padding: pixels between tiles.
    Returns:
        the ``AxesImage``; update it with ``artist.set_data(tile_images(new_images, nrow))``.
    """
    ax = _resolve_axes(ax_or_fig)
    artist = ax.imshow(
        tile_images(images, nrow, padding), cmap="gray", vmin=IMAGE_VMIN, vmax=IMAGE_VMAX, interpolation="nearest"
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    return artist


def plot_point_cloud(
    ax_or_fig: Axes | Figure | None,
    points: torch.Tensor | np.ndarray,
    limit: float = POINT_CLOUD_LIMIT,
    title: str | None = None,
    label: str | None = None,
    **line_kwargs,
) -> Line2D:
    """Scatter 2-D points on square axes fixed to [−limit, limit]², so frames compare.

    Args:
        ax_or_fig: the Axes to draw on, a Figure with one Axes, or ``None`` for a new figure.
        points: shape (N, 2).
        limit: half-width of both axes, in data units.
        title, label: the Axes title and the legend label.
        line_kwargs: passed to ``Axes.plot`` (for example ``color`` or ``markersize``).
    Returns:
        the ``Line2D`` of markers; update it with ``artist.set_data(x, y)``.
    """
    array = _as_numpy(points, "points")
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {array.shape}")
    if not limit > 0:
        raise ValueError(f"limit must be positive, got {limit!r}")
    ax = _resolve_axes(ax_or_fig)
    style = {"linestyle": "none", "marker": ".", "markersize": 2.0, "alpha": 0.6, **line_kwargs}
    (artist,) = ax.plot(array[:, 0], array[:, 1], label=label, **style)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title is not None:
        ax.set_title(title)
    return artist


def first_step_below(alphas_cumprod: torch.Tensor, threshold: float = 0.5) -> int | None:
    """Return the first timestep t with ᾱ_t < ``threshold``, or ``None`` if ᾱ never falls below it."""
    below = torch.nonzero(alphas_cumprod < threshold)
    return int(below[0]) if len(below) else None


def plot_schedule_curves(
    schedules: Mapping[str, NoiseSchedule],
    threshold: float = 0.5,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Plot ᾱ_t and log SNR(t) against t for several schedules, marking where ᾱ_t < ``threshold``.

    Args:
        schedules: label → ``NoiseSchedule``; schedules of different lengths T share the axes.
        threshold: the ᾱ level to mark (0.5 = as much noise power as signal power, SNR = 1).
        axes: two Axes to draw on; default a new 1 × 2 figure.
    Returns:
        the figure.
    """
    if not schedules:
        raise ValueError("schedules is empty; pass at least one label → NoiseSchedule")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold!r}")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax_alpha, ax_snr = axes
    for (label, schedule), color in zip(schedules.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3):
        steps = np.arange(schedule.num_train_timesteps)
        alphas_cumprod = schedule.alphas_cumprod.detach().cpu().double()
        crossing = first_step_below(alphas_cumprod, threshold)
        crossing_text = "never" if crossing is None else f"at t = {crossing}"
        ax_alpha.plot(steps, alphas_cumprod.numpy(), color=color, label=f"{label} (< {threshold:g} {crossing_text})")
        ax_snr.plot(steps, torch.log(schedule.snr.detach().cpu().double()).numpy(), color=color, label=label)
        if crossing is not None:
            ax_alpha.plot(crossing, float(alphas_cumprod[crossing]), "o", color=color)
    ax_alpha.axhline(threshold, color="grey", linewidth=0.8, linestyle=":", label=f"ᾱ = {threshold:g}")
    ax_snr.axhline(math.log(threshold / (1 - threshold)), color="grey", linewidth=0.8, linestyle=":",
                   label=f"log SNR at ᾱ = {threshold:g}")
    ax_alpha.set(xlabel="timestep $t$ (code index)", ylabel=r"$\bar\alpha_t$", title=r"signal kept: $\bar\alpha_t$")
    ax_snr.set(xlabel="timestep $t$ (code index)", ylabel=r"$\log \mathrm{SNR}(t)$ (natural log)",
               title=r"$\log \mathrm{SNR}(t) = \log \bar\alpha_t / (1 - \bar\alpha_t)$")
    ax_alpha.legend(fontsize=8)
    ax_snr.legend(fontsize=8)
    return ax_alpha.figure
