"""Animations of the reverse process, built from a trajectory a sampler recorded.

A trajectory is a ``SamplerOutput`` returned with ``record=...``: ``timesteps`` (K,),
``x_t`` (K, B, …) and ``pred_original_sample`` (K, B, …), stored on the CPU; frame 0 is x_T and
frame K − 1 is the final sample (timestep −1). Lesson 5 shows the reverse loop step by step; this
module only draws what such a loop recorded, and never calls a model.

The animation is an animated GIF written with Pillow and embedded as
``<img src="data:image/gif;base64,...">``: it needs no ffmpeg and no JavaScript, so it also plays
on GitHub and in nbconvert's HTML export, and the same frames give the same bytes on one
matplotlib and Pillow build.
"""

from __future__ import annotations

import base64
import io
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from .plotting import show_image_grid, tile_images
from .sampling import SamplerOutput

CHANGE_MEASURES = ("progress", "pred_original_sample", "x_t")
TRAIL_RGB = (0.85, 0.4, 0.1)  # orange trails under blue points


def check_trajectory(trajectory: SamplerOutput) -> int:
    """Return the number of recorded frames K, or raise if ``trajectory`` contains no usable recording."""
    if not isinstance(trajectory, SamplerOutput):
        raise TypeError(f"trajectory must be a SamplerOutput, got {type(trajectory).__name__}")
    if trajectory.timesteps is None or trajectory.x_t is None or trajectory.pred_original_sample is None:
        raise ValueError("trajectory has no recorded frames; sample with record='all' or record=<frame count>")
    num_frames = len(trajectory.timesteps)
    if trajectory.x_t.shape[0] != num_frames or trajectory.pred_original_sample.shape[0] != num_frames:
        raise ValueError(
            f"trajectory fields disagree on the frame count: timesteps {num_frames}, x_t {trajectory.x_t.shape[0]}, "
            f"pred_original_sample {trajectory.pred_original_sample.shape[0]}"
        )
    if num_frames < 2:
        raise ValueError(f"a trajectory needs at least 2 frames (x_T and the final sample), got {num_frames}")
    return num_frames


def frame_changes(trajectory: SamplerOutput, measure: str = "progress") -> torch.Tensor:
    """Return how much the picture changes between consecutive recorded frames, shape (K − 1,).

    Every measure is a root-mean-square over the batch and all dimensions, in data units (the
    data lie in [−1, 1]):

    - ``progress``: how much closer to the final sample frame k + 1 gets than any frame before
      it, R[k] − R[k + 1], where R[k] = min over j ≤ k of D[j] and D[j] = √mean((x_t[j] − x_final)²)
      is the distance of frame j to the final sample. Per-step noise points in random directions
      and mostly averages out of D. The running minimum drops its remaining ups and downs, so
      noise that moves the samples without bringing them closer adds almost nothing.
    - ``pred_original_sample``: √mean((x̂₀[k + 1] − x̂₀[k])²), the step length of x̂₀.
    - ``x_t``: √mean((x_t[k + 1] − x_t[k])²), the step length of x_t, noise included.
    """
    check_trajectory(trajectory)
    if measure not in CHANGE_MEASURES:
        raise ValueError(f"unknown change measure {measure!r}; expected one of {CHANGE_MEASURES}")
    if measure == "progress":
        x_t = trajectory.x_t.double()
        distance = (x_t - x_t[-1]).pow(2).flatten(1).mean(dim=1).sqrt()  # (K,) D[k]
        closest_so_far = torch.cummin(distance, dim=0).values  # (K,) R[k]
        return closest_so_far[:-1] - closest_so_far[1:]
    frames = getattr(trajectory, measure).double()
    steps = frames[1:] - frames[:-1]  # (K − 1, B, …)
    return steps.pow(2).flatten(1).mean(dim=1).sqrt()


def select_frames(
    trajectory: SamplerOutput,
    max_frames: int = 30,
    measure: str = "progress",
    uniform_share: float = 0.2,
) -> list[int]:
    """Pick at most ``max_frames`` recorded frames to show, placed where the picture changes most.

    Frames are spaced evenly in the cumulative change that ``frame_changes`` measures, by default
    the progress toward the final sample, not evenly in t. The step lengths of x_t and of x̂₀ are
    poor guides in DDPM sampling. Every step adds fresh noise of standard deviation √β̃_t, which
    grows with t. That noise dominates the step length of x_t, and x̂₀ = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t
    multiplies it by up to 1/√ᾱ_t ≈ 160 at t = 999 on the linear schedule. Both would spend most
    frames at large t, where the picture is still noise. The distance to the final sample averages
    that noise out and falls fastest where shapes form (on the linear schedule, mostly below
    t ≈ 300). A share ``uniform_share`` of the weight is spread evenly over the recorded steps, so
    no stretch of the run is skipped outright.

    Args:
        trajectory: a recorded ``SamplerOutput``.
        max_frames: the upper bound on the frame count, at least 2.
        measure: ``progress``, ``pred_original_sample`` or ``x_t`` (see ``frame_changes``).
        uniform_share: in [0, 1]; 0 spaces frames by change alone, 1 spaces them evenly over the
            recorded steps.
    Returns:
        strictly increasing frame indices in [0, K), starting with 0 (x_T) and ending with K − 1
        (the final sample). All K frames when K ≤ ``max_frames``; otherwise at most
        ``max_frames``, fewer when several targets fall on the same step.
    """
    num_frames = check_trajectory(trajectory)
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
        raise ValueError(f"max_frames must be an int of at least 2, got {max_frames!r}")
    if not 0.0 <= float(uniform_share) <= 1.0:
        raise ValueError(f"uniform_share must lie in [0, 1], got {uniform_share!r}")
    if num_frames <= max_frames:
        return list(range(num_frames))

    # 1. Weight each step between frames by its share of the total change, mixed with an even share.
    changes = frame_changes(trajectory, measure)
    total = float(changes.sum())
    change_weights = changes / total if total > 0 else torch.full_like(changes, 1.0 / len(changes))
    even_weights = torch.full_like(changes, 1.0 / len(changes))
    weights = (1 - uniform_share) * change_weights + uniform_share * even_weights

    # 2. Cumulative weight at each frame: 0 at x_T, 1 at the final sample.
    cumulative = torch.cat([torch.zeros(1, dtype=weights.dtype), weights.cumsum(0)])
    cumulative = cumulative / cumulative[-1]

    # 3. For evenly spaced targets in [0, 1], take the first frame whose cumulative weight reaches it.
    targets = torch.linspace(0, 1, max_frames, dtype=cumulative.dtype)
    indices = torch.searchsorted(cumulative, targets - 1e-12).clamp(max=num_frames - 1)
    chosen = sorted(set(indices.tolist()) | {0, num_frames - 1})
    return chosen


def _new_figure(figsize: tuple[float, float], dpi: int, pyplot: bool) -> Figure:
    if pyplot:
        return plt.figure(figsize=figsize, dpi=dpi, layout="constrained")
    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def _freeze_layout(figure: Figure) -> None:
    """Run the constrained layout once, then keep it, so titles that change per frame never move the axes."""
    figure.draw_without_rendering()
    figure.set_layout_engine("none")


def _frame_title(timestep: int) -> str:
    return "final sample" if timestep < 0 else f"t = {timestep}"


class DigitsTrajectoryView:
    """A figure of grey images that redraws one recorded frame at a time: x_t beside the x̂₀ of that step.

    Both panels share the grey map with limits [−1, 1]; values beyond are shown clipped (x_t
    starts as N(0, 1) noise). The figure and its two ``AxesImage`` artists persist, and ``update``
    only swaps their data, so redrawing a frame costs one canvas draw.

    Args:
        trajectory: a recorded ``SamplerOutput`` whose frames have shape (K, B, 1, H, W).
        num_images: how many of the B images to show (the first ones).
        num_columns: images per row in each panel.
        figsize, dpi: figure size in inches and resolution in dots per inch.
        pyplot: make the figure with ``plt.figure`` so ``plt.show()`` displays it; by default it is
            a bare ``Figure`` that pyplot never shows or keeps open.
    """

    def __init__(
        self,
        trajectory: SamplerOutput,
        num_images: int = 16,
        num_columns: int = 4,
        figsize: tuple[float, float] = (6.0, 3.2),
        dpi: int = 80,
        pyplot: bool = False,
    ):
        check_trajectory(trajectory)
        if trajectory.x_t.ndim != 5 or trajectory.x_t.shape[2] != 1:
            raise ValueError(f"digits frames must have shape (K, B, 1, H, W), got {tuple(trajectory.x_t.shape)}")
        self.trajectory = trajectory
        self.num_images = max(1, min(num_images, trajectory.x_t.shape[1]))
        self.num_columns = num_columns
        self.figure = _new_figure(figsize, dpi, pyplot)
        axes = self.figure.subplots(1, 2)
        self.image_axes = axes
        first_frame = self.trajectory.x_t[0, : self.num_images]
        self.artists = [show_image_grid(ax, first_frame, nrow=num_columns) for ax in axes]
        self.figure.colorbar(self.artists[1], ax=list(axes), shrink=0.8, label="pixel value")
        self.frame_index = -1
        self.update(0)
        _freeze_layout(self.figure)

    def _grid(self, field: str, frame_index: int) -> np.ndarray:
        frames = getattr(self.trajectory, field)[frame_index, : self.num_images].float()
        return tile_images(frames, self.num_columns)  # (rows·(H + 1) − 1, columns·(W + 1) − 1)

    def update(self, frame_index: int) -> None:
        """Show recorded frame ``frame_index`` (0 = x_T, K − 1 = the final sample)."""
        frame_index = _check_frame_index(frame_index, len(self.trajectory.timesteps))
        timestep = int(self.trajectory.timesteps[frame_index])
        self.artists[0].set_data(self._grid("x_t", frame_index))
        self.artists[1].set_data(self._grid("pred_original_sample", frame_index))
        if timestep < 0:
            self.image_axes[0].set_title("final sample $x_0$")
            self.image_axes[1].set_title("final sample $x_0$")
        else:
            self.image_axes[0].set_title(f"$x_t$ at t = {timestep}")
            self.image_axes[1].set_title(rf"$\hat{{x}}_0$ predicted at t = {timestep}")
        self.frame_index = frame_index


class PointsTrajectoryView:
    """A scatter of 2-D points that redraws one recorded frame at a time, each point's path fading behind it.

    The trail of a point joins its positions over the last ``trail_length`` recorded steps, drawn
    more transparent the older the step. Axis limits are fixed across frames (they cover 99.5 % of
    all recorded positions), so motion on screen is motion of the points.

    Args:
        trajectory: a recorded ``SamplerOutput`` whose frames have shape (K, B, 2).
        num_points: how many of the B points to draw (the first ones).
        trail_length: how many recorded steps each trail spans.
        reference: optional data points (N, 2) drawn in light grey underneath.
        figsize, dpi, pyplot: as for ``DigitsTrajectoryView``.
    """

    def __init__(
        self,
        trajectory: SamplerOutput,
        num_points: int = 300,
        trail_length: int = 8,
        reference: torch.Tensor | None = None,
        figsize: tuple[float, float] = (4.2, 4.2),
        dpi: int = 80,
        pyplot: bool = False,
    ):
        check_trajectory(trajectory)
        if trajectory.x_t.ndim != 3 or trajectory.x_t.shape[2] != 2:
            raise ValueError(f"point frames must have shape (K, B, 2), got {tuple(trajectory.x_t.shape)}")
        if isinstance(trail_length, bool) or not isinstance(trail_length, int) or trail_length < 1:
            raise ValueError(f"trail_length must be a positive int, got {trail_length!r}")
        self.trajectory = trajectory
        self.positions = trajectory.x_t[:, :num_points].double().numpy()  # (K, P, 2)
        self.trail_length = trail_length
        self.figure = _new_figure(figsize, dpi, pyplot)
        self.ax = self.figure.subplots()
        limit = float(np.quantile(np.abs(self.positions), 0.995)) * 1.05
        self.ax.set_xlim(-limit, limit)
        self.ax.set_ylim(-limit, limit)
        self.ax.set_aspect("equal")
        self.ax.set_xlabel("$x_1$")
        self.ax.set_ylabel("$x_2$")
        if reference is not None:
            reference = torch.as_tensor(reference).detach().cpu().numpy()
            self.ax.scatter(reference[:, 0], reference[:, 1], s=2, color="0.8", label="training data")
        self.trails = LineCollection([], linewidths=0.8)
        self.ax.add_collection(self.trails)
        self.scatter = self.ax.scatter(self.positions[0, :, 0], self.positions[0, :, 1], s=5, color="C0", label="$x_t$", zorder=3)
        trail_handle = Line2D([], [], color=TRAIL_RGB, label=f"path over the last {trail_length} recorded steps")
        handles, _ = self.ax.get_legend_handles_labels()
        self.ax.legend(handles=handles + [trail_handle], loc="upper right", fontsize=7)
        self.frame_index = -1
        self.update(0)
        _freeze_layout(self.figure)

    def update(self, frame_index: int) -> None:
        """Show recorded frame ``frame_index`` with the trails of the steps before it."""
        frame_index = _check_frame_index(frame_index, len(self.trajectory.timesteps))
        start = max(0, frame_index - self.trail_length)
        history = self.positions[start : frame_index + 1]  # (L + 1, P, 2)
        segments = np.stack([history[:-1], history[1:]], axis=2)  # (L, P, 2 ends, 2 coordinates)
        ages = np.arange(len(segments), 0, -1)  # 1 for the newest step
        alphas = 0.6 * (1 - (ages - 1) / self.trail_length)
        colors = np.zeros((len(segments), segments.shape[1], 4))
        colors[..., :3] = TRAIL_RGB
        colors[..., 3] = alphas[:, None]
        self.trails.set_segments(segments.reshape(-1, 2, 2))
        self.trails.set_color(colors.reshape(-1, 4))
        self.scatter.set_offsets(self.positions[frame_index])
        self.ax.set_title(f"reverse process, {_frame_title(int(self.trajectory.timesteps[frame_index]))}")
        self.frame_index = frame_index


def _check_frame_index(frame_index: int, num_frames: int) -> int:
    if isinstance(frame_index, bool) or not isinstance(frame_index, (int, np.integer)):
        raise TypeError(f"frame_index must be an int, got {type(frame_index).__name__}")
    if not -num_frames <= frame_index < num_frames:
        raise ValueError(f"frame_index {frame_index} is outside the {num_frames} recorded frames")
    return int(frame_index) % num_frames


def make_view(trajectory: SamplerOutput, **kwargs) -> DigitsTrajectoryView | PointsTrajectoryView:
    """Return the view that fits the trajectory's frames: images (K, B, 1, H, W) or 2-D points (K, B, 2)."""
    check_trajectory(trajectory)
    if trajectory.x_t.ndim == 5:
        return DigitsTrajectoryView(trajectory, **kwargs)
    if trajectory.x_t.ndim == 3 and trajectory.x_t.shape[2] == 2:
        return PointsTrajectoryView(trajectory, **kwargs)
    raise ValueError(
        f"no view for frames of shape {tuple(trajectory.x_t.shape)}; expected (K, B, 1, H, W) images or (K, B, 2) points"
    )


def render_rgb(figure: Figure) -> Image.Image:
    """Draw ``figure`` with the Agg renderer and return it as an RGB Pillow image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def to_palette_image(image: Image.Image) -> Image.Image:
    """Convert an RGB image to Pillow's palette mode "P", exactly when it has at most 256 colours.

    Figures of grey images stay within 256 colours and keep every pixel. Figures with more
    colours (alpha-blended trails) fall back to Pillow's fast octree quantizer without dithering.
    """
    pixels = np.asarray(image.convert("RGB")).astype(np.uint32)
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]  # (H, W), one int per colour
    colours, indices = np.unique(packed, return_inverse=True)
    if len(colours) > 256:
        return image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    palette = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1).astype(np.uint8)
    result = Image.fromarray(indices.reshape(packed.shape).astype(np.uint8), mode="P")
    result.putpalette(palette.reshape(-1).tolist())
    return result


def encode_gif(images: Sequence[Image.Image], frame_ms: int = 120, last_frame_ms: int = 1500) -> bytes:
    """Encode RGB images as a looping animated GIF and return its bytes.

    Each frame gets its own palette (``to_palette_image``), and the same frames give the same
    bytes. The last frame stays ``last_frame_ms`` on screen. Pillow merges consecutive identical
    frames into one longer frame.
    """
    if len(images) == 0:
        raise ValueError("encode_gif needs at least one image")
    palette_frames = [to_palette_image(image) for image in images]
    durations = [frame_ms] * (len(images) - 1) + [last_frame_ms]
    buffer = io.BytesIO()
    palette_frames[0].save(
        buffer, format="GIF", save_all=True, append_images=palette_frames[1:], duration=durations, loop=0, optimize=False
    )
    return buffer.getvalue()


class GifAnimation:
    """An animated GIF that Jupyter shows as ``<img src="data:image/gif;base64,...">``.

    ``data`` contains the GIF bytes and ``frame_indices`` the recorded frames it shows.
    """

    def __init__(self, data: bytes, frame_indices: list[int]):
        self.data = data
        self.frame_indices = frame_indices

    def to_html(self) -> str:
        """Return the ``<img>`` tag with the GIF inlined as base64."""
        encoded = base64.b64encode(self.data).decode("ascii")
        return f'<img src="data:image/gif;base64,{encoded}" alt="reverse-process animation, {len(self.frame_indices)} frames"/>'

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"GifAnimation({len(self.frame_indices)} frames, {len(self.data) // 1024} KiB)"

    def save(self, path: str) -> None:
        """Write the GIF to ``path``."""
        with open(path, "wb") as file:
            file.write(self.data)


def animate_trajectory(
    trajectory: SamplerOutput,
    max_frames: int = 30,
    measure: str = "progress",
    frame_ms: int = 120,
    **view_kwargs,
) -> GifAnimation:
    """Animate a recorded reverse process as a GIF of at most ``max_frames`` frames.

    Images get x_t beside x̂₀ (``DigitsTrajectoryView``); 2-D points get the cloud with fading
    paths (``PointsTrajectoryView``). Frames are picked by ``select_frames`` (by default evenly
    spaced in the progress toward the final sample), and ``view_kwargs`` go to the view. A 30-frame animation of either
    view at the default size is a few hundred kB.
    """
    frame_indices = select_frames(trajectory, max_frames=max_frames, measure=measure)
    view = make_view(trajectory, **view_kwargs)
    images = []
    for frame_index in frame_indices:
        view.update(frame_index)
        images.append(render_rgb(view.figure))
    return GifAnimation(encode_gif(images, frame_ms=frame_ms), frame_indices)
