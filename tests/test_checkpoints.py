"""Tests for ddpm_lib.checkpoints and load_pretrained: round trips, the sha256 manifest check and
every bad-file case (missing, unlisted, altered, corrupt, truncated, pickled code, wrong
architecture). A bad file must raise ValueError naming the file and never run code: the
malicious pickles here would create a marker file if they were executed.
"""

import hashlib
import json
import os
import pickle

import pytest
import torch

from ddpm_lib.checkpoints import (
    CHECKPOINT_DIR,
    load_checkpoint,
    manifest_entry,
    merge_manifest_metrics,
    read_manifest,
    save_checkpoint,
    update_manifest,
)
from ddpm_lib.models import MLPDenoiser
from ddpm_lib.training import TrainingConfig, build_model, load_pretrained

TINY_MLP = {"data_dim": 2, "hidden_dim": 16, "num_blocks": 1, "time_embed_dim": 8}


def register(folder, name: str, saved: dict, config: TrainingConfig | None = None) -> None:
    update_manifest(name, {**saved, "config": config.to_dict() if config else {}}, folder)


def listed_with_true_hash(folder, file_name: str, content: bytes) -> str:
    """Write ``content`` and list it with its own sha256, so only the weights-only loader can stop it."""
    path = folder / file_name
    path.write_bytes(content)
    update_manifest(file_name, {"file": file_name, "sha256": hashlib.sha256(content).hexdigest()}, folder)
    return str(path)


@pytest.fixture
def saved_model(tmp_path):
    config = TrainingConfig(seed=5, model_kwargs=TINY_MLP)
    model = build_model(config)
    saved = save_checkpoint(model, tmp_path / "tiny.pt", config.to_dict())
    register(tmp_path, "tiny", saved, config)
    return model, config, saved


class WritesMarker:
    """Unpickling this runs os.system('touch MARKER') unless the loader refuses code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ---------------------------------------------------------------------- round trips
def test_save_reports_true_sha256(saved_model, tmp_path):
    _, _, saved = saved_model
    content = (tmp_path / "tiny.pt").read_bytes()
    assert saved["sha256"] == hashlib.sha256(content).hexdigest()
    assert saved["size_bytes"] == len(content)


def test_save_load_round_trip(saved_model, tmp_path):
    model, config, _ = saved_model
    fresh = MLPDenoiser(**TINY_MLP)
    checkpoint = load_checkpoint(tmp_path / "tiny.pt", fresh)
    for name, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name
    assert checkpoint["config"] == json.loads(json.dumps(config.to_dict()))


def test_load_pretrained_round_trip(saved_model, tmp_path):
    model, config, _ = saved_model
    loaded, schedule, entry = load_pretrained("tiny", device="cpu", checkpoint_dir=tmp_path)
    assert not loaded.training
    assert schedule.num_train_timesteps == config.num_train_timesteps
    assert entry["config"]["prediction_type"] == config.prediction_type
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_update_manifest_keeps_other_entries(saved_model, tmp_path):
    update_manifest("other", {"file": "other.pt", "sha256": "0" * 64}, tmp_path)
    assert set(read_manifest(tmp_path)) == {"tiny", "other"}


def test_merge_metrics_keeps_earlier_scores(saved_model, tmp_path):
    merge_manifest_metrics("tiny", {"ddim-50": {"ratio": 2.0}}, tmp_path)
    merge_manifest_metrics("tiny", {"ddpm-1000": {"ratio": 1.5}}, tmp_path)
    assert read_manifest(tmp_path)["tiny"]["metrics"] == {"ddim-50": {"ratio": 2.0}, "ddpm-1000": {"ratio": 1.5}}


def test_merge_metrics_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="train it first"):
        merge_manifest_metrics("absent", {}, tmp_path)


def test_unknown_name_lists_available(saved_model, tmp_path):
    with pytest.raises(ValueError, match="tiny"):
        manifest_entry("missing-model", tmp_path)


# ---------------------------------------------------------------------- bad files
def test_sha256_mismatch_names_file_and_fix(saved_model, tmp_path):
    path = tmp_path / "tiny.pt"
    content = bytearray(path.read_bytes())
    content[-100] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=r"tiny\.pt has sha256 .*--preset tiny"):
        load_checkpoint(path, MLPDenoiser(**TINY_MLP))


def test_expected_sha256_argument_overrides_manifest(saved_model, tmp_path):
    with pytest.raises(ValueError, match="was expected"):
        load_checkpoint(tmp_path / "tiny.pt", expected_sha256="0" * 64)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")


def test_unlisted_file(tmp_path):
    save_checkpoint(MLPDenoiser(**TINY_MLP), tmp_path / "stray.pt")
    with pytest.raises(ValueError, match="not listed"):
        load_checkpoint(tmp_path / "stray.pt")


def test_corrupt_file(tmp_path):
    path = listed_with_true_hash(tmp_path, "noise.pt", os.urandom(4096))
    with pytest.raises(ValueError, match=r"noise\.pt could not be loaded weights-only"):
        load_checkpoint(path)


def test_truncated_file(saved_model, tmp_path):
    content = (tmp_path / "tiny.pt").read_bytes()
    path = listed_with_true_hash(tmp_path, "cut.pt", content[: len(content) // 2])
    with pytest.raises(ValueError, match=r"cut\.pt could not be loaded"):
        load_checkpoint(path)


def test_truncated_file_fails_hash_first(saved_model, tmp_path):
    path = tmp_path / "tiny.pt"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="has sha256"):
        load_checkpoint(path)


def test_raw_pickle_with_code_is_not_run(tmp_path):
    marker = tmp_path / "executed"
    path = listed_with_true_hash(tmp_path, "evil.pkl", pickle.dumps({"state_dict": WritesMarker(marker)}, protocol=2))
    with pytest.raises(ValueError, match=r"evil\.pkl could not be loaded weights-only"):
        load_checkpoint(path)
    assert not marker.exists()


def test_torch_save_with_code_is_not_run(tmp_path):
    marker = tmp_path / "executed"
    staging = tmp_path / "staging.pt"
    torch.save({"state_dict": {"weight": torch.zeros(2)}, "hook": WritesMarker(marker)}, staging)
    path = listed_with_true_hash(tmp_path, "evil.pt", staging.read_bytes())
    with pytest.raises(ValueError, match=r"evil\.pt could not be loaded weights-only"):
        load_checkpoint(path)
    assert not marker.exists()


def test_file_without_state_dict(tmp_path):
    staging = tmp_path / "staging.pt"
    torch.save({"weights": [1, 2, 3]}, staging)
    path = listed_with_true_hash(tmp_path, "odd.pt", staging.read_bytes())
    with pytest.raises(ValueError, match="does not contain a 'state_dict'"):
        load_checkpoint(path)


def test_other_architecture(saved_model, tmp_path):
    wider = MLPDenoiser(**{**TINY_MLP, "hidden_dim": 32})
    with pytest.raises(ValueError, match=r"tiny\.pt is for another architecture.*--preset tiny"):
        load_checkpoint(tmp_path / "tiny.pt", wider)


def test_other_architecture_leaves_model_unchanged(saved_model, tmp_path):
    deeper = MLPDenoiser(**{**TINY_MLP, "num_blocks": 2})
    before = {k: v.clone() for k, v in deeper.state_dict().items()}
    with pytest.raises(ValueError, match="unexpected|missing"):
        load_checkpoint(tmp_path / "tiny.pt", deeper)
    for name, value in deeper.state_dict().items():
        assert torch.equal(value, before[name]), name


# ---------------------------------------------------------------------- shipped files
SHIPPED = read_manifest(CHECKPOINT_DIR)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_file_matches_manifest(name):
    entry = SHIPPED[name]
    content = (CHECKPOINT_DIR / entry["file"]).read_bytes()
    assert hashlib.sha256(content).hexdigest() == entry["sha256"]
    assert len(content) == entry["size_bytes"]


@pytest.mark.parametrize("name", sorted(n for n, e in SHIPPED.items() if e.get("kind") == "denoiser"))
def test_shipped_denoiser_loads(name):
    model, schedule, entry = load_pretrained(name, device="cpu")
    assert not model.training
    assert sum(p.numel() for p in model.parameters()) == entry["num_parameters"]
