"""ddpm_lib: a small, readable library behind the DDPM teaching notebooks.

One idea per module:

| module             | contents                                                              |
|--------------------|-----------------------------------------------------------------------|
| `schedules`        | noise schedules, the forward process, ε / x₀ / v / score conversions  |
| `parameterization` | the loss weights and error amplification that tell ε, x₀ and v apart  |
| `models`           | the time embedding, an MLP for 2-D points and a small U-Net          |
| `training`         | one training loop for every prediction_type, `load_pretrained`       |
| `checkpoints`      | weights-only checkpoint files checked against the manifest's sha256  |
| `train`            | `python -m ddpm_lib.train --preset NAME` rebuilds a shipped checkpoint |
| `sampling`         | DDPM and DDIM samplers and their single steps                         |
| `ideal`            | the closed-form optimal denoiser E[ε ∣ x_t] and the loss floor         |
| `data`             | 2-D toy sets and scikit-learn's digits, scaled to [−1, 1]             |
| `metrics`          | sliced Wasserstein and a digits Fréchet distance, with baselines      |
| `plotting`, `animation`, `widgets` | labelled figures, reverse-process animations, slider explorers |
| `device`           | CUDA, then MPS, then the CPU                                          |

The names below are importable from the package itself. The plotting and widget modules are
imported on their own (``from ddpm_lib.widgets import ...``), so the core needs no matplotlib or
ipywidgets.
"""

from .data import load_digits, make_toy_dataset
from .device import get_device
from .models import MLPDenoiser, UNet, timestep_embedding
from .sampling import SamplerOutput, StepOutput, ddim_sample, ddim_step, ddpm_sample, ddpm_step, timestep_grid
from .schedules import NoiseSchedule

__all__ = [
    "NoiseSchedule",
    "ddpm_sample",
    "ddim_sample",
    "ddpm_step",
    "ddim_step",
    "timestep_grid",
    "StepOutput",
    "SamplerOutput",
    "MLPDenoiser",
    "UNet",
    "timestep_embedding",
    "load_digits",
    "make_toy_dataset",
    "get_device",
]
