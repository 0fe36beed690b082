"""Checkpoint averaging after the fact, as icefall's decoding does with ``--epoch``/``--avg``:
the mean of the weights in the last N checkpoints of a run (``zipasr average``).

The mean is taken by :class:`~zipasr.train.averaging.ModelAverager` (period 1: each checkpoint
weighs the same), one checkpoint in memory at a time, in float64.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from zipasr.models import AsrModel
from zipasr.train.averaging import ModelAverager
from zipasr.train.checkpoint import TrainCheckpoint, list_checkpoints, write_model_dir
from zipasr.train.init import tokenizer_pieces


def average_checkpoints(
    paths: Sequence[str | os.PathLike[str]],
) -> tuple[AsrModel, TrainCheckpoint]:
    """The model whose weights are the mean of the ``model`` weights of the checkpoints at
    ``paths`` (all of one architecture), and the newest of them (for its tokenizer and config).

    Raises:
        ValueError: no paths, or checkpoints of different architectures or tokenizers.
    """
    if not paths:
        raise ValueError("no checkpoint to average")
    model: AsrModel | None = None
    averager: ModelAverager | None = None
    first: TrainCheckpoint | None = None
    last: TrainCheckpoint | None = None
    for count, path in enumerate(paths, start=1):
        ckpt = TrainCheckpoint.load(Path(path))
        if first is None:
            first = ckpt
            model = AsrModel(ckpt.model_config)
            averager = ModelAverager(model, period=1)
        elif (ckpt.model_config, ckpt.tokenizer) != (first.model_config, first.tokenizer):
            raise ValueError(
                f"{path} holds another model or vocabulary than {paths[0]}: average the "
                "checkpoints of one run"
            )
        assert model is not None and averager is not None
        model.load_state_dict(ckpt.model)
        averager.update(model, count)  # the running mean of `count` models
        last = ckpt
        del ckpt
    assert model is not None and averager is not None and last is not None
    averaged = averager.averaged(model)
    return averaged, last


def average_last(
    exp_dir: str | os.PathLike[str], last: int, out_dir: str | os.PathLike[str]
) -> tuple[Path, list[Path]]:
    """Averages the newest ``last`` checkpoints of ``exp_dir`` (by step) into the model
    directory ``out_dir`` (with the run's tokenizer; :func:`zipasr.load` reads it). Returns the
    directory and the checkpoints averaged.

    Raises:
        FileNotFoundError: ``exp_dir`` has no checkpoint.
        ValueError: ``last`` < 1 or more than there are.
    """
    found = list_checkpoints(Path(exp_dir))
    if not found:
        raise FileNotFoundError(f"{exp_dir}: no checkpoint-<step>.pt to average")
    if not 1 <= last <= len(found):
        raise ValueError(
            f"--last {last}: {exp_dir} has {len(found)} checkpoint(s) "
            f"({', '.join(p.name for p in found)}); average between 1 and {len(found)}"
        )
    paths = found[-last:]
    model, newest = average_checkpoints(paths)
    kind, normalizer = newest.tokenizer_record()
    tokens = tokenizer_pieces(newest.tokenizer)
    model.tokens, model.normalizer = tokens, normalizer
    with torch.no_grad():
        out = write_model_dir(model, newest.tokenizer, kind, normalizer, Path(out_dir))
    return out, paths
