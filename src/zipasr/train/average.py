"""Checkpoint averaging after the fact, as icefall's decoding does with ``--epoch``/``--avg``
(``zipasr average``), in two ways:

- :func:`average_checkpoints`: the mean of the weights saved in the last N checkpoints (icefall's
  ``--use-averaged-model 0``), taken by :class:`~zipasr.train.averaging.ModelAverager` (period
  1: each checkpoint weighs the same), one checkpoint in memory at a time, in float64;
- :func:`average_between`: the mean of every model the trainer's running average took (each
  ``average_period`` steps) after one checkpoint and up to a later one, from the two
  checkpoints' running averages (icefall's ``--use-averaged-model 1``): with ``n`` updates
  behind the average ``a`` of the older and ``m`` behind ``b`` of the newer, it is
  ``(m * b - n * a) / (m - n)``.
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


def _updates(ckpt: TrainCheckpoint) -> int:
    """How many models the checkpoint's running average holds (see ModelAverager)."""
    config = ckpt.config
    return max(0, (ckpt.state.step - config.average_start_step) // config.average_period)


def average_between(
    older: str | os.PathLike[str], newer: str | os.PathLike[str]
) -> tuple[AsrModel, TrainCheckpoint]:
    """The mean of the models the running average took after checkpoint ``older`` and up to
    checkpoint ``newer`` (see the module docstring), and the newer checkpoint.

    Raises:
        ValueError: checkpoints of different runs (architecture, tokenizer or averaging
            settings), or no average update between them.
    """
    a, b = TrainCheckpoint.load(Path(older)), TrainCheckpoint.load(Path(newer))
    settings = ("average_start_step", "average_period")
    same_run = (a.model_config, a.tokenizer) == (b.model_config, b.tokenizer) and all(
        getattr(a.config, k) == getattr(b.config, k) for k in settings
    )
    if not same_run:
        raise ValueError(f"{older} and {newer} are not checkpoints of one run")
    n, m = _updates(a), _updates(b)
    if m <= n:
        raise ValueError(
            f"the running average took no model between {Path(older).name} (step "
            f"{a.state.step}) and {Path(newer).name} (step {b.state.step}): it is updated "
            f"every {b.config.average_period} steps from step {b.config.average_start_step}"
        )
    mean = {}
    for name, value in b.model_avg.items():
        if value.is_floating_point():
            mean[name] = (value * m - a.model_avg[name] * n) / (m - n)
        else:  # integer buffers are not averaged: the newest
            mean[name] = b.model[name]
    model = AsrModel(b.model_config)
    like = model.state_dict()
    model.load_state_dict({k: v.to(like[k].dtype) for k, v in mean.items()})
    return model, b


def average_last(
    exp_dir: str | os.PathLike[str],
    last: int,
    out_dir: str | os.PathLike[str],
    *,
    use_averaged: bool = False,
) -> tuple[Path, list[Path]]:
    """Averages the newest ``last`` checkpoints of ``exp_dir`` (by step) into the model
    directory ``out_dir`` (with the run's tokenizer; :func:`zipasr.load` reads it). Returns the
    directory and the checkpoints used.

    ``use_averaged``: instead of the ``last`` checkpoints' own weights, the mean of every model
    the running average took over their span, from the average in the checkpoint before them
    to the average in the newest (:func:`average_between`; needs ``last + 1`` checkpoints).

    Raises:
        FileNotFoundError: ``exp_dir`` has no checkpoint.
        ValueError: ``last`` < 1 or more than there are.
    """
    found = list_checkpoints(Path(exp_dir))
    if not found:
        raise FileNotFoundError(f"{exp_dir}: no checkpoint-<step>.pt to average")
    most = len(found) - 1 if use_averaged else len(found)
    if not 1 <= last <= most:
        raise ValueError(
            f"--last {last}: {exp_dir} has {len(found)} checkpoint(s) "
            f"({', '.join(p.name for p in found)}); average between 1 and {most}"
            + (" (--use-averaged needs one checkpoint before the span)" if use_averaged else "")
        )
    if use_averaged:
        paths = [found[-last - 1], found[-1]]
        model, newest = average_between(*paths)
    else:
        paths = found[-last:]
        model, newest = average_checkpoints(paths)
    kind, normalizer = newest.tokenizer_record()
    tokens = tokenizer_pieces(newest.tokenizer)
    model.tokens, model.normalizer = tokens, normalizer
    with torch.no_grad():
        out = write_model_dir(model, newest.tokenizer, kind, normalizer, Path(out_dir))
    return out, paths
