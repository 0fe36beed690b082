"""The LibriSpeech recipe end to end on a tiny fake corpus laid out like LibriSpeech."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import soundfile

from zipasr.train import load_config, train
from zipasr.train.checkpoint import TrainCheckpoint, latest_checkpoint

RECIPE = Path(__file__).parents[2] / "recipes" / "librispeech"


def _fake_librispeech(corpus: Path, root: Path) -> None:
    """LibriSpeech/<part>/<speaker>/<chapter>/<spk>-<chap>-<n>.flac + <spk>-<chap>.trans.txt,
    with audio and text from the synthetic corpus (upper case, as LibriSpeech has it)."""
    for part, split, count in (("train-clean-100", "train", 12), ("dev-clean", "dev", 2)):
        lines = [json.loads(x) for x in (corpus / f"{split}.jsonl").read_text().splitlines()]
        for i, item in enumerate(lines[:count]):
            speaker, chapter = 100 + i % 3, 7
            folder = root / "LibriSpeech" / part / str(speaker) / str(chapter)
            folder.mkdir(parents=True, exist_ok=True)
            utt = f"{speaker}-{chapter}-{i:04d}"
            audio, rate = soundfile.read(corpus / item["audio"])
            soundfile.write(folder / f"{utt}.flac", audio, rate)
            with (folder / f"{speaker}-{chapter}.trans.txt").open("a") as f:
                f.write(f"{utt} {item['text'].upper()}\n")


def test_prepare_and_train_on_a_fake_librispeech(corpus: Path, tmp_path: Path) -> None:
    _fake_librispeech(corpus, tmp_path / "download")
    env = dict(
        os.environ,
        DL_DIR=str(tmp_path / "download"),
        OUT_DIR=str(tmp_path / "manifests"),
        STAGE="1",  # the corpus is "downloaded" already
        PARTS="train-clean-100 dev-clean",
        JOBS="1",
    )
    proc = subprocess.run(
        ["bash", str(RECIPE / "prepare.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("cuts_train.jsonl.gz", "cuts_dev.jsonl.gz"):
        assert (tmp_path / "manifests" / name).is_file()

    # The streaming recipe as written, shrunk to the tiny model and a few steps.
    config = load_config(
        RECIPE / "streaming.yaml",
        [
            "--exp_dir", str(tmp_path / "exp"),
            "--data.train_manifest", str(tmp_path / "manifests" / "cuts_train.jsonl.gz"),
            "--data.valid_manifest", str(tmp_path / "manifests" / "cuts_dev.jsonl.gz"),
            "--model.preset", "tiny",
            "--model.decoder_dim", "16",
            "--model.joiner_dim", "16",
            "--data.vocab_size", "60",
            "--data.max_duration_s", "10",
            "--data.num_workers", "0",
            "--max_steps", "2",
            "--threads", "1",
        ],
    )  # fmt: skip
    result = train(config)
    assert result.steps == 2 and (result.model_dir / "model.pt").is_file()
    assert TrainCheckpoint.load(latest_checkpoint(tmp_path / "exp")).config.data.speed_perturb
