"""Two gloo processes train like one process with the same global batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zipasr import AsrModel, AsrModelConfig, TransducerConfig, allocator
from zipasr.data import Batch, collate
from zipasr.optim import Eden, ScaledAdam
from zipasr.testing import random_features, tiny_config
from zipasr.train import distributed
from zipasr.train.config import LossConfig
from zipasr.train.precision import Precision
from zipasr.train.step import Learner

STEPS, GLOBAL_BATCH, FRAMES = 3, 4, 160


def _global_batches() -> list[Batch]:
    batches = []
    for step in range(STEPS):
        feats, _ = random_features([FRAMES] * GLOBAL_BATCH, seed=step)
        g = torch.Generator().manual_seed(100 + step)
        tokens = [torch.randint(3, 30, (8,), generator=g).tolist() for _ in range(GLOBAL_BATCH)]
        ids = [f"s{step}u{i}" for i in range(GLOBAL_BATCH)]
        batches.append(collate(list(feats), tokens, ["x"] * GLOBAL_BATCH, ids))
    return batches


def _shard(batch: Batch, rank: int, world_size: int) -> Batch:
    n = len(batch) // world_size
    part = slice(rank * n, (rank + 1) * n)
    return collate(
        list(batch.features[part]), batch.token_ids[part], batch.texts[part], batch.ids[part]
    )


def _train(rank: int, world_size: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = AsrModelConfig(tiny_config(causal=True), 32, TransducerConfig(16, 16), ctc=True)
    model = AsrModel(config)
    wrapped: torch.nn.Module = model
    if world_size > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    optimizer = ScaledAdam(model.named_parameters(), lr=0.045, clipping_scale=2.0)
    scheduler = Eden(optimizer, 100.0, 3.5, 2.0, 0.1)
    learner = Learner(
        model=wrapped,
        optimizer=optimizer,
        scheduler=scheduler,
        precision=Precision(None, None),
        device=torch.device("cpu"),
        loss=LossConfig(warm_step=4),
        max_duration_s=FRAMES / 100 * GLOBAL_BATCH / world_size,
        world_size=world_size,
        regularize=False,
    )
    for step, batch in enumerate(_global_batches(), start=1):
        learner.step([_shard(batch, rank, world_size)], step, (16, 64))
    assert model.clock.ref_batches == (STEPS - 1) * FRAMES / 100 * GLOBAL_BATCH / 600
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _train_and_save(out: str) -> None:
    """One process of the group that ``distributed.launch`` starts."""
    info = distributed.setup("cpu")
    assert info.enabled and info.world_size == 2
    try:
        torch.save(_train(info.rank, info.world_size), Path(out) / f"rank{info.rank}.pt")
    finally:
        distributed.cleanup()


def test_two_gloo_processes_equal_one_process_with_the_global_batch(tmp_path: Path) -> None:
    distributed.launch(_train_and_save, (str(tmp_path),), processes=2)
    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    single = _train(0, 1)
    for name, value in single.items():
        assert torch.equal(rank0[name], rank1[name]), name  # DDP keeps the replicas identical
        if not value.is_floating_point():
            continue
        # Summation order differs (all-reduce vs one batch), and Adam's normalisation g/|g|
        # magnifies that for gradients near 0 (query biases, under softmax's shift
        # invariance), so single elements differ by ~1e-4, those tensors by ~6e-4 of their norm.
        diff = (rank0[name] - value).norm()
        assert diff <= 2e-3 * value.norm() + 1e-6, (name, float(diff), float(value.norm()))


def test_train_runs_under_two_processes(corpus: Path, tmp_path: Path) -> None:
    """``distributed.launch`` (what ``zipasr demo`` uses) runs the trainer as two processes."""
    from tests.train.conftest import tiny_train_config
    from zipasr.train import train
    from zipasr.train.checkpoint import TrainCheckpoint, latest_checkpoint

    exp = tmp_path / "exp"
    config = tiny_train_config(corpus, exp, max_steps=4, save_every_steps=2, device="cpu")
    distributed.launch(train, (config,), processes=2)
    ckpt = TrainCheckpoint.load(latest_checkpoint(exp))
    assert ckpt.state.step == 4
    assert len(ckpt.processes) == 2  # each process's RNG and regularizer state
    assert ckpt.sampler is not None and ckpt.sampler["world_size"] == 2
    assert (exp / "model" / "model.pt").exists()

    # Resume with a corrupt newest checkpoint: the main process sets it aside and both resume
    # from the one before (the main process broadcasts its pick).
    newest = exp / "checkpoint-4.pt"
    newest.write_bytes(newest.read_bytes()[:2000])
    config.resume = "auto"
    distributed.launch(train, (config,), processes=2)
    assert (exp / "checkpoint-4.pt.corrupt").exists()
    assert TrainCheckpoint.load(newest).state.step == 4


def _fail(message: str) -> None:
    raise RuntimeError(message)


def test_launch_reports_a_failing_process() -> None:
    with pytest.raises(Exception, match="boom"):
        distributed.launch(_fail, ("boom",), processes=2)


def _write_keeping(path: str) -> None:
    with open(path, "w") as f:
        f.write(str(allocator.keeping_freed_memory()))


@pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc's mallopt")
@pytest.mark.parametrize("keep", [True, False])
def test_launched_processes_inherit_the_choice(tmp_path, keep):
    out = tmp_path / "keeping.txt"
    if not keep:
        distributed.launch(_write_keeping, (str(out),), processes=1)
    else:
        # Releasing fixes glibc's thresholds for the rest of this process: only after keeping.
        try:
            assert allocator.keep_freed_memory()
            distributed.launch(_write_keeping, (str(out),), processes=1)
        finally:
            allocator.release_freed_memory()
    assert out.read_text() == str(keep)
