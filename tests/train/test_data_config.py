"""The ``data`` section: every augmentation reachable from the config (on/off, seeded), and
weighted mixtures of training manifests in a real training run."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from zipasr.data import AsrDataset, Tokenizer, load_cuts, train_tokenizer
from zipasr.train import train
from zipasr.train.config import DataConfig, ManifestSpec, load_config
from zipasr.train.data import augmentations

from .conftest import tiny_train_config


@pytest.fixture(scope="module")
def tokenizer(corpus: Path, tmp_path_factory) -> Tokenizer:
    texts = [json.loads(line)["text"] for line in (corpus / "train.jsonl").open()]
    return train_tokenizer(texts, tmp_path_factory.mktemp("bpe"), vocab_size=60)


@pytest.fixture(scope="module")
def cuts(corpus: Path):
    return load_cuts(corpus / "dev.jsonl").subset(first=2)


@pytest.fixture(scope="module")
def noise_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    sf.write(folder / "hiss.wav", 0.3 * rng.standard_normal(16000 * 3), 16000)
    (folder / "rir").mkdir()
    for i, decay in enumerate((300, 900, 2000)):  # three measured rooms
        rir = rng.standard_normal(6000) * np.exp(-np.arange(6000) / decay)
        sf.write(folder / "rir" / f"room{i}.wav", rir / np.abs(rir).max(), 16000)
    return folder


def _features(config: DataConfig, seed: int, tokenizer, cuts) -> torch.Tensor:
    random.seed(seed)  # SpecAugment draws from the global RNGs, which the trainer seeds
    np.random.seed(seed)
    torch.manual_seed(seed)
    batch = AsrDataset(tokenizer, *augmentations(config, seed))[cuts]
    return batch.features


ON = {
    "speed": dict(speed_perturb=True, speed_prob=1.0),
    "volume": dict(volume_perturb=True, volume_prob=1.0, volume_scale=(0.2, 0.5)),
    "noise": dict(noise_prob=1.0, noise_snr_db=(0.0, 5.0)),  # + noise_manifest
    "reverb (simulated rooms)": dict(reverb=True, reverb_prob=1.0),
    "reverb (measured rir)": dict(reverb=True, reverb_prob=1.0),  # + rir_manifest
    "spec_augment": dict(spec_augment=True),
}


@pytest.mark.parametrize("name", list(ON))
def test_each_augmentation_is_off_by_default_on_when_asked_and_seeded(
    name, tokenizer, cuts, noise_dir
) -> None:
    off = DataConfig(spec_augment=False)
    settings = dict(ON[name])
    if name != "spec_augment":
        settings["spec_augment"] = False
    if name == "noise":
        settings["noise_manifest"] = str(noise_dir / "hiss.wav")  # one file: a folder is too
    if name == "reverb (measured rir)":
        settings["rir_manifest"] = str(noise_dir / "rir")
    on = DataConfig(**settings)
    assert augmentations(off, 0) == ([], [])
    assert len(sum(augmentations(on, 0), [])) == 1
    clean = _features(off, 0, tokenizer, cuts)
    first = _features(on, 0, tokenizer, cuts)
    again = _features(on, 0, tokenizer, cuts)
    other = _features(on, 1, tokenizer, cuts)
    assert torch.equal(first, again)  # the same seed, the same augmented batch
    changed = first.shape != clean.shape or not torch.allclose(first, clean, atol=1e-3)
    assert changed, f"{name} left the features as they were"
    assert first.shape != other.shape or not torch.equal(first, other)  # another seed


def test_augmentations_that_need_audio_refuse_precomputed_features(noise_dir) -> None:
    with pytest.raises(ValueError, match=r"precompute_features .* \['speed_perturb', 'reverb'\]"):
        DataConfig(precompute_features=True, speed_perturb=True, reverb=True)
    with pytest.raises(ValueError, match=r"data.noise_snr_db=\[20.0, 10.0\] must be \[low, high\]"):
        DataConfig(noise_manifest=str(noise_dir), noise_snr_db=(20.0, 10.0))
    with pytest.raises(ValueError, match=r"data.volume_prob=1.5 must be in \[0, 1\]"):
        DataConfig(volume_prob=1.5)


def test_train_manifests_from_yaml_and_overrides(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "data:\n  train_manifests:\n    - {path: a.jsonl, weight: 3}\n"
        "    - {path: b.jsonl, repeat: true}\n"
    )
    config = load_config(path)
    assert config.data.manifests() == [
        ManifestSpec("a.jsonl", 3.0),
        ManifestSpec("b.jsonl", 1.0, True),
    ]
    config = load_config(None, ["--data.train_manifest", "one.jsonl"])  # the old form
    assert config.data.manifests() == [ManifestSpec("one.jsonl")]
    with pytest.raises(ValueError, match="both set"):
        DataConfig(train_manifest="a", train_manifests=(ManifestSpec("b"),))
    with pytest.raises(ValueError, match=r"train_manifests\[1\].weight=0.0 must be > 0"):
        DataConfig(train_manifests=(ManifestSpec("a"), ManifestSpec("b", 0.0)))


def test_a_mixture_trains_and_resumes_as_an_uninterrupted_run(corpus: Path, tmp_path: Path) -> None:
    """Two manifests mixed 2:1 (the second repeating), with noise and volume augmentation,
    through the trainer; a run stopped and resumed mid-epoch ends with the same weights."""
    (tmp_path / "noise").mkdir()
    sf.write(
        tmp_path / "noise" / "n.wav", 0.1 * np.random.default_rng(1).standard_normal(32000), 16000
    )
    lines = (corpus / "train.jsonl").read_text().splitlines()
    half = len(lines) // 2
    for name, part in (("a.jsonl", lines[:half]), ("b.jsonl", lines[half:])):
        rows = [json.loads(x) for x in part]
        for row in rows:
            row["audio"] = str(corpus / row["audio"])
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))

    def config(exp: Path, max_steps: int):
        c = tiny_train_config(corpus, exp, max_steps=max_steps, save_every_steps=2)
        c.data = replace(
            c.data,
            train_manifest="",
            train_manifests=(
                ManifestSpec(str(tmp_path / "a.jsonl"), 2.0),
                ManifestSpec(str(tmp_path / "b.jsonl"), 1.0, repeat=True),
            ),
            valid_manifest=None,
            volume_perturb=True,
            noise_manifest=str(tmp_path / "noise"),
        )
        return c

    full = train(config(tmp_path / "full", 4))
    train(config(tmp_path / "split", 2))
    resumed_config = config(tmp_path / "split", 4)
    resumed_config.resume = "auto"
    resumed = train(resumed_config)
    assert full.steps == resumed.steps == 4
    a = torch.load(tmp_path / "full" / "checkpoint-4.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "checkpoint-4.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_zipasr_train_names_a_missing_manifest_of_a_mixture(capsys, tmp_path) -> None:
    from zipasr.cli.main import main

    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "c.yaml").write_text(
        f"exp_dir: {tmp_path / 'exp'}\ndata:\n  train_manifests:\n"
        f"    - {{path: {tmp_path / 'a.jsonl'}}}\n    - {{path: {tmp_path / 'gone.jsonl'}}}\n"
    )
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert main(["train", str(tmp_path / "c.yaml")]) == 1
    finally:  # zipasr train points logging at this test's captured stderr: put it back
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err
    assert (
        err == f"zipasr: error: data.train_manifests[1]: {tmp_path / 'gone.jsonl'} does not exist\n"
    )


def test_the_yaml_examples_of_docs_data_md_are_valid_configs(tmp_path) -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    for i, block in enumerate(blocks):
        (tmp_path / f"{i}.yaml").write_text(block)
        config = load_config(tmp_path / f"{i}.yaml")
        assert config.data != DataConfig()
