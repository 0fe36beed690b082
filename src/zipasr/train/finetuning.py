"""``zipasr.train.finetune``: the common fine-tuning run in one call (``zipasr finetune``).

It is :func:`zipasr.train.train` with a config made by :func:`finetune_config`: initialised from
a trained model (:mod:`zipasr.train.init`), with icefall's fine-tuning learning rate
(:meth:`~zipasr.train.config.OptimConfig.finetune`), everything written to ``out_dir``: the
checkpoints, ``config.yaml``, TensorBoard logs, the curve, and the fine-tuned model in
``out_dir/model`` (what ``zipasr transcribe`` and ``zipasr export`` take). A run stopped early
continues with ``resume="auto"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from zipasr.train.config import DataConfig, LossConfig, OptimConfig, TrainConfig
from zipasr.train.loop import TrainResult, train

PathLike = str | os.PathLike[str]


def finetune_config(
    model: PathLike,
    train_manifest: PathLike,
    out_dir: PathLike,
    *,
    valid_manifest: PathLike | None = None,
    max_steps: int | None = None,
    num_epochs: int = 20,
    freeze: Sequence[str] = (),
    init_modules: Sequence[str] | None = None,
    tokenizer: PathLike | None = None,
    vocab_size: int | None = None,
    base_lr: float | None = None,
    max_duration_s: float = 1000.0,
    num_workers: int = 2,
    spec_augment: bool = True,
    warm_step: int | None = None,
    valid_wer_utterances: int = 200,
    resume: str | None = None,
    **fields: object,
) -> TrainConfig:
    """The :class:`TrainConfig` of :func:`finetune` (see there); edit it before training if
    you need more than these arguments say.

    ``fields`` sets other top-level fields of :class:`TrainConfig` (``seed``,
    ``ref_duration_s``, ``save_every_steps``, ``threads``, ...)."""
    if tokenizer is not None and vocab_size is not None:
        raise ValueError("give either tokenizer (an existing one) or vocab_size (a new one)")
    optim = OptimConfig.finetune()
    if base_lr is not None:
        optim.base_lr = base_lr
    data = DataConfig(
        train_manifest=str(train_manifest),
        valid_manifest=str(valid_manifest) if valid_manifest is not None else None,
        tokenizer=str(tokenizer) if tokenizer is not None else None,
        max_duration_s=max_duration_s,
        num_workers=num_workers,
        spec_augment=spec_augment,
    )
    if vocab_size is not None:
        data.vocab_size = vocab_size
    loss = LossConfig() if warm_step is None else LossConfig(warm_step=warm_step)
    config = TrainConfig(
        exp_dir=str(out_dir),
        data=data,
        optim=optim,
        loss=loss,
        num_epochs=num_epochs,
        max_steps=max_steps,
        init_from=str(model),
        init_modules=tuple(init_modules) if init_modules is not None else None,
        init_tokenizer=vocab_size is None,
        freeze=tuple(freeze),
        valid_wer_utterances=valid_wer_utterances if valid_manifest is not None else 0,
        resume=resume,
    )
    for name, value in fields.items():
        if not hasattr(config, name) or name in ("data", "optim", "loss"):
            raise TypeError(f"finetune_config() got an unexpected field {name!r}")
        setattr(config, name, value)
    config.__post_init__()  # checks the fields just set
    return config


def finetune(
    model: PathLike, train_manifest: PathLike, out_dir: PathLike, **options: object
) -> TrainResult:
    """Fine-tunes the trained ``model`` on ``train_manifest``; the result is in
    ``out_dir/model``.

    Args:
        model: a zipasr model directory, a zipasr training checkpoint or an icefall checkpoint.
        train_manifest: the new data (JSONL, lhotse cuts, or a folder of wav+txt).
        out_dir: checkpoints, logs and ``model/``.
        options: those of :func:`finetune_config`: ``valid_manifest``, ``max_steps``,
            ``num_epochs`` (20), ``freeze`` (name prefixes), ``init_modules`` (None: all),
            ``tokenizer`` (a new ``bpe.model``; default: the model's own) or ``vocab_size``
            (train a new tokenizer of that size on the new transcripts), ``base_lr``
            (icefall's 0.0045), ``max_duration_s`` (audio seconds per batch), ``num_workers``
            (data-loading processes, 2; 0 loads in the training process),
            ``spec_augment`` (True, the recipe's), ``warm_step`` (the loss warm-up, in steps;
            None: the recipe's 2000), ``ref_duration_s`` (the regularisers' clock, 600),
            ``valid_wer_utterances`` (200: the greedy WER logged at each validation),
            ``resume`` ("auto" continues a stopped run), and any other TrainConfig field.
    """
    return train(finetune_config(model, train_manifest, Path(out_dir), **options))  # type: ignore[arg-type]
