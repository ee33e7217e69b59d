"""Save and load model weights safely: plain tensors only, checked against a sha256 manifest.

A checkpoint file is ``torch.save`` of a dict ``{"state_dict": {name: tensor}, "config": {...}}``
whose config holds only strings, numbers, booleans, None, lists and dicts. Loading reads the
bytes once, compares their sha256 with ``data/checkpoints/manifest.json`` (or a hash the caller
passes) before any unpickling, and then unpickles with ``torch.load(weights_only=True)``, which
rejects anything that is not a tensor or a plain container, so a checkpoint cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

try:
    import fcntl
except ImportError:  # Windows has no fcntl: manifest writes there are not locked against each other.
    fcntl = None

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
MANIFEST_NAME = "manifest.json"


def sha256_of_file(path: str | os.PathLike) -> str:
    """Return the hex sha256 digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _manifest_path(checkpoint_dir: str | os.PathLike | None) -> Path:
    return Path(checkpoint_dir if checkpoint_dir is not None else CHECKPOINT_DIR) / MANIFEST_NAME


def read_manifest(checkpoint_dir: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Return the manifest's entries by name (empty when there is no manifest yet)."""
    path = _manifest_path(checkpoint_dir)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())["checkpoints"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"checkpoint manifest {path} is not valid ({error}); restore it from git") from error


def manifest_entry(name: str, checkpoint_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Return the manifest entry called ``name``, with ``path`` set to the checkpoint's full path."""
    entries = read_manifest(checkpoint_dir)
    if name not in entries:
        raise ValueError(
            f"no checkpoint called {name!r} in {_manifest_path(checkpoint_dir)}; available: {sorted(entries)}. "
            f"Train it with python -m ddpm_lib.train --preset {name}"
        )
    entry = dict(entries[name])
    entry["path"] = str(_manifest_path(checkpoint_dir).parent / entry["file"])
    return entry


def update_manifest(name: str, entry: dict[str, Any], checkpoint_dir: str | os.PathLike | None = None) -> None:
    """Write ``entry`` under ``name`` into the manifest, keeping the other entries."""
    _edit_manifest(lambda entries: entries.__setitem__(name, entry), checkpoint_dir)


def merge_manifest_metrics(
    name: str, metrics: dict[str, Any], checkpoint_dir: str | os.PathLike | None = None
) -> None:
    """Add ``metrics`` to the ``metrics`` of entry ``name``, keeping the scores already there."""

    def merge(entries: dict[str, dict[str, Any]]) -> None:
        if name not in entries:
            raise ValueError(f"no checkpoint called {name!r} in the manifest; train it first")
        entries[name]["metrics"] = {**entries[name].get("metrics", {}), **metrics}

    _edit_manifest(merge, checkpoint_dir)


def _edit_manifest(edit, checkpoint_dir: str | os.PathLike | None) -> None:
    """Apply ``edit(entries)`` to the manifest under an exclusive lock, then write it atomically.

    The lock on the folder serialises concurrent writers (each reads the manifest inside the
    lock), and the new manifest replaces the old one in a single rename, so a reader never sees a
    half-written file.
    """
    path = _manifest_path(checkpoint_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY) if fcntl is not None else None
    try:
        if folder is not None:
            fcntl.flock(folder, fcntl.LOCK_EX)  # released when the descriptor is closed
        entries = read_manifest(checkpoint_dir)
        edit(entries)
        text = json.dumps({"checkpoints": dict(sorted(entries.items()))}, indent=2, ensure_ascii=False) + "\n"
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
            handle.write(text)
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    finally:
        if folder is not None:
            os.close(folder)


def save_checkpoint(
    model: nn.Module | dict[str, torch.Tensor], path: str | os.PathLike, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Save a model's weights (and an optional plain config dict) to ``path``.

    Args:
        model: an ``nn.Module`` or a state_dict of tensors.
        path: the file to write (its folder is created).
        config: JSON-like settings stored beside the weights, e.g. ``TrainingConfig.to_dict()``.
    Returns:
        ``{"file", "sha256", "size_bytes"}`` for the written file, ready for a manifest entry.
    """
    state_dict = model.state_dict() if isinstance(model, nn.Module) else model
    if not all(isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise TypeError("a checkpoint's state_dict may contain only tensors")
    payload = {"state_dict": {key: value.detach().cpu().clone() for key, value in state_dict.items()}}
    payload["config"] = json.loads(json.dumps(config or {}))  # keep only JSON-like values
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return {"file": path.name, "sha256": sha256_of_file(path), "size_bytes": path.stat().st_size}


def _expected_sha256(path: Path, checkpoint_dir: str | os.PathLike | None) -> tuple[str | None, str | None]:
    """Find the manifest entry for ``path`` by file name: (sha256, preset name) or (None, None)."""
    folder = checkpoint_dir if checkpoint_dir is not None else path.parent
    for name, entry in read_manifest(folder).items():
        if entry.get("file") == path.name:
            return entry.get("sha256"), name
    return None, None


def _fix_hint(preset: str | None) -> str:
    if preset is not None:
        return f"retrain it with python -m ddpm_lib.train --preset {preset}"
    return "save it again with ddpm_lib.checkpoints.save_checkpoint and pass its sha256"


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    expected_sha256: str | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    preset: str | None = None,
    map_location: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint weights-only after checking its sha256, and optionally fill ``model``.

    Args:
        path: the checkpoint file.
        model: when given, its weights are replaced; names and shapes must match exactly.
        expected_sha256: the hash the file must have. When None, it is looked up by file name
            in the manifest of ``checkpoint_dir`` (default: the file's own folder).
        checkpoint_dir: the folder whose ``manifest.json`` lists the file.
        preset: the preset that made the file, named in error messages.
        map_location: where tensors are loaded.
    Returns:
        the checkpoint dict: ``{"state_dict": {name: tensor}, "config": {...}}``.
    Raises:
        ValueError: missing, unlisted, altered (sha256 mismatch), corrupt, truncated or unsafe
            (pickled code) files, and weights for another architecture. No file's code is run.
    """
    path = Path(path)
    # 1. Read the bytes once: the hash is checked on exactly what is unpickled.
    if not path.is_file():
        raise ValueError(f"checkpoint {path} not found; {_fix_hint(preset)}")
    data = path.read_bytes()

    # 2. Compare the sha256 with the manifest before unpickling anything.
    listed_sha256, listed_preset = _expected_sha256(path, checkpoint_dir)
    preset = preset or listed_preset
    expected = expected_sha256 or listed_sha256
    if expected is None:
        raise ValueError(
            f"checkpoint {path} is not listed in a manifest.json beside it and no expected_sha256 was given; "
            f"pass expected_sha256 or {_fix_hint(preset)}"
        )
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ValueError(
            f"checkpoint {path} has sha256 {actual} but {expected} was expected: the file is altered, "
            f"corrupt or from another run; {_fix_hint(preset)}"
        )

    # 3. Unpickle weights-only: tensors and plain containers, never code.
    try:
        checkpoint = torch.load(io.BytesIO(data), weights_only=True, map_location=map_location)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError, TypeError) as error:
        raise ValueError(
            f"checkpoint {path} could not be loaded weights-only ({type(error).__name__}: {str(error)[:200]}); "
            f"it is corrupt, truncated or not a plain-tensor checkpoint. {_fix_hint(preset)}"
        ) from error
    _check_structure(checkpoint, path, preset)
    if model is not None:
        _load_into(model, checkpoint["state_dict"], path, preset)
    return checkpoint


def _check_structure(checkpoint: Any, path: Path, preset: str | None) -> None:
    state_dict = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(
            f"checkpoint {path} does not contain a 'state_dict' of tensors; {_fix_hint(preset)}"
        )


def _load_into(model: nn.Module, state_dict: dict[str, torch.Tensor], path: Path, preset: str | None) -> None:
    """Copy weights into ``model`` after checking every name and shape, naming the first mismatch."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = [
        f"{key}: file {tuple(state_dict[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in expected
        if key in state_dict and state_dict[key].shape != expected[key].shape
    ]
    if missing or unexpected or wrong_shape:
        details = "; ".join(
            part
            for part in (
                f"missing {missing[:3]}" if missing else "",
                f"unexpected {unexpected[:3]}" if unexpected else "",
                f"shape mismatch {wrong_shape[:3]}" if wrong_shape else "",
            )
            if part
        )
        raise ValueError(
            f"checkpoint {path} is for another architecture than {type(model).__name__} ({details}); "
            f"build the model with the checkpoint's config or {_fix_hint(preset)}"
        )
    model.load_state_dict(state_dict)
