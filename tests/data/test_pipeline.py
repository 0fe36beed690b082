from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from lhotse import CutSet
from lhotse.utils import fastcopy

from zipasr.data import (
    AsrDataset,
    Batch,
    LoaderConfig,
    SkipReport,
    collate,
    cuts_from_folder,
    cuts_from_jsonl,
    cuts_to_jsonl,
    iterate_batches,
    load_cuts,
    make_loader,
    noise_mixing,
    precompute_features,
    screen_cuts,
    spec_augment,
    speed_perturbation,
)
from zipasr.testing import FBANK_PAD_VALUE

MAX_S = 20.0


def _folder_copy(corpus: Path, dest: Path) -> Path:
    """The train split as a folder of *.wav + *.txt."""
    dest.mkdir()
    for line in (corpus / "train.jsonl").open():
        item = json.loads(line)
        shutil.copy(corpus / item["audio"], dest / f"{item['id']}.wav")
        (dest / f"{item['id']}.txt").write_text(item["text"])
    return dest


def _batches(cuts: CutSet, tokenizer, **kw) -> list[Batch]:
    report = SkipReport()
    cuts = screen_cuts(cuts, tokenizer, report)
    loader, _ = make_loader(
        cuts, AsrDataset(tokenizer, **kw), LoaderConfig(max_duration_s=MAX_S, num_workers=0)
    )
    batches = list(iterate_batches(loader, report))
    assert report.total == 0, report.summary()
    return batches


def _check(batches: list[Batch], expected_ids: set[str]) -> None:
    assert {i for b in batches for i in b.ids} == expected_ids
    for b in batches:
        B, T, F = b.features.shape
        assert F == 80 and b.features.dtype == torch.float32
        assert b.feature_lengths.dtype == torch.int64 and int(b.feature_lengths.max()) == T
        assert len(b.token_ids) == len(b.texts) == B and all(b.token_ids)
        assert b.duration_s <= MAX_S + 0.01 * B  # feature frames round to 10 ms
        short = int(b.feature_lengths.argmin())
        assert (b.features[short, b.feature_lengths[short] :] == FBANK_PAD_VALUE).all()


def test_three_input_kinds_give_the_same_batches(corpus: Path, tokenizer, tmp_path: Path) -> None:
    from_jsonl = cuts_from_jsonl(corpus / "train.jsonl")
    ids = {c.id for c in from_jsonl}
    assert len(ids) > 20
    lhotse_manifest = tmp_path / "cuts.jsonl.gz"
    from_jsonl.to_file(lhotse_manifest)
    folder = _folder_copy(corpus, tmp_path / "folder")
    by_kind = {
        "jsonl": _batches(load_cuts(corpus / "train.jsonl"), tokenizer),
        "lhotse": _batches(load_cuts(lhotse_manifest), tokenizer),
        "folder": _batches(load_cuts(folder), tokenizer),
    }
    for batches in by_kind.values():
        _check(batches, ids)
    a, b = by_kind["jsonl"][0], by_kind["folder"][0]
    assert a.ids == b.ids and torch.equal(a.features, b.features)


def test_converters_round_trip(corpus: Path, tmp_path: Path) -> None:
    folder = _folder_copy(corpus, tmp_path / "folder")
    manifest = cuts_to_jsonl(cuts_from_folder(folder), tmp_path / "sub" / "m.jsonl")
    back = cuts_from_jsonl(manifest)
    original = cuts_from_jsonl(corpus / "train.jsonl")
    assert [(c.id, c.supervisions[0].text) for c in back] == [
        (c.id, c.supervisions[0].text) for c in original
    ]


def test_precomputed_features_equal_on_the_fly(corpus: Path, tokenizer, tmp_path: Path) -> None:
    cuts = cuts_from_jsonl(corpus / "dev.jsonl")
    stored = precompute_features(cuts, tmp_path / "feats")
    assert all(c.has_features for c in stored)
    on_the_fly = AsrDataset(tokenizer)[cuts]
    precomputed = AsrDataset(tokenizer)[stored]
    assert torch.allclose(on_the_fly.features, precomputed.features)


def test_augmentation_transforms_compose(corpus: Path, tokenizer) -> None:
    cuts = cuts_from_jsonl(corpus / "train.jsonl").subset(first=6)
    noise = cuts_from_jsonl(corpus / "test.jsonl").map(lambda c: fastcopy(c, supervisions=[]))
    dataset = AsrDataset(
        tokenizer,
        cut_transforms=[speed_perturbation(p=1.0, seed=1), noise_mixing(noise, p=1.0, seed=1)],
        feature_transforms=[spec_augment(p=1.0)],
    )
    clean = AsrDataset(tokenizer)[cuts]
    augmented = dataset[cuts]
    assert len(augmented) == 6 and augmented.texts == clean.texts
    assert not torch.equal(augmented.feature_lengths, clean.feature_lengths)  # 0.9x / 1.1x


def test_batch_to_and_padded_tokens(corpus: Path, tokenizer) -> None:
    batch = AsrDataset(tokenizer)[cuts_from_jsonl(corpus / "dev.jsonl")]
    moved = batch.to("cpu")
    assert moved.features.device.type == "cpu" and moved.ids == batch.ids
    ids, lengths = batch.padded_token_ids()
    assert ids.shape == (len(batch), int(lengths.max())) and ids.dtype == torch.int64
    assert tokenizer.decode(batch.token_ids) == batch.texts


def test_make_loader_shards_resumes_and_leaves_the_global_rng_alone(
    corpus: Path, tokenizer
) -> None:
    """What the trainer builds its loaders with: data-parallel shards, a mid-epoch resume, and
    no draw from torch's global RNG (a resumed run restores that from its checkpoint)."""
    cuts = screen_cuts(load_cuts(corpus / "train.jsonl"), tokenizer, SkipReport())
    dataset = AsrDataset(tokenizer)
    config = LoaderConfig(max_duration_s=10.0, num_buckets=4, num_workers=0, seed=5)
    shards = [
        [b.ids for b in make_loader(cuts, dataset, replace(config, rank=r, world_size=2))[0]]
        for r in (0, 1)
    ]
    assert len(shards[0]) == len(shards[1]) > 0  # DDP needs equal step counts
    assert not {i for b in shards[0] for i in b} & {i for b in shards[1] for i in b}

    loader, sampler = make_loader(cuts, dataset, config)
    sampler.set_epoch(1)
    rng = torch.get_rng_state()
    it = iter(loader)
    head = [next(it).ids for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), rng)
    state = sampler.state_dict(batches_consumed=len(head))
    rest = [b.ids for b in it]
    assert rest  # the resume below starts mid-epoch
    resumed, _ = make_loader(cuts, dataset, config, sampler_state=state)
    assert [b.ids for b in resumed] == rest
    with pytest.raises(ValueError, match=r"rank=2 must be in \[0, world_size=2\)"):
        LoaderConfig(rank=2, world_size=2)


def test_collate_checks_lengths_once_on_the_cpu():
    """Collate is where a training batch's lengths are checked (the encoder's forward reads no
    values): a matrix shorter than the front end's 9 frames is refused, naming the lengths."""
    ok = collate([torch.zeros(9, 80), torch.zeros(20, 80)], [[1], [2]], ["a", "b"], ["1", "2"])
    assert ok.feature_lengths.tolist() == [9, 20]
    with pytest.raises(ValueError, match=r"lengths \[8, 20\].*shorter than 9"):
        collate([torch.zeros(8, 80), torch.zeros(20, 80)], [[1], [2]], ["a", "b"], ["1", "2"])
