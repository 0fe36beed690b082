"""Loading icefall (and `zipformer` package) checkpoints as zipasr models."""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from zipasr.convert.icefall import (
    encoder_config_from_icefall,
    encoder_state_from_icefall,
    model_key,
)
from zipasr.encoder import Zipformer
from zipasr.models.asr import AsrModel
from zipasr.models.config import AsrModelConfig, TransducerConfig
from zipasr.weights import assign_weights

StateDict = Mapping[str, Tensor]


def read_icefall_checkpoint(
    path: str | os.PathLike[str], *, averaged: bool = False
) -> dict[str, Tensor]:
    """The model state_dict of an icefall checkpoint file, loaded with ``weights_only=True``.

    Accepts ``pretrained.pt`` ({"model": ...}), ``epoch-N.pt`` and ``checkpoint-N.pt`` (training
    checkpoints; ``averaged=True`` takes their running average ``model_avg`` instead), or a file
    holding a bare state_dict.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path}: cannot be read with weights_only=True (it holds objects other than "
            f"tensors and plain values: {error}). If you trust the file, load it yourself "
            "and pass the state_dict to load_icefall."
        ) from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict, found {type(data).__name__}")
    if averaged:
        if "model_avg" not in data:
            raise ValueError(
                f"{path}: averaged=True but the checkpoint has no 'model_avg' "
                f"(keys: {sorted(k for k in data if isinstance(k, str))[:10]})"
            )
        return dict(data["model_avg"])
    if "model" in data and isinstance(data["model"], dict):
        return dict(data["model"])
    if all(isinstance(v, Tensor) for v in data.values()):
        return data
    raise ValueError(f"{path}: no 'model' entry and not a state_dict")


def model_config_from_icefall(
    state_dict: StateDict, *, pos_head_dim: int = 4, feature_dim: int = 80
) -> AsrModelConfig:
    """Infers the whole architecture (encoder, heads, vocabulary, context) from tensor shapes."""
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    encoder = encoder_config_from_icefall(sd, pos_head_dim=pos_head_dim, feature_dim=feature_dim)
    transducer = None
    vocab: int | None = None
    if "decoder.embedding.weight" in sd:
        vocab, decoder_dim = sd["decoder.embedding.weight"].shape
        conv = sd.get("decoder.conv.weight")
        transducer = TransducerConfig(
            decoder_dim=decoder_dim,
            joiner_dim=sd["joiner.encoder_proj.weight"].shape[0],
            context_size=1 if conv is None else conv.shape[-1],
        )
    ctc = "ctc_output.1.weight" in sd
    if ctc:
        ctc_vocab = sd["ctc_output.1.weight"].shape[0]
        if vocab is not None and ctc_vocab != vocab:
            raise ValueError(f"CTC head has {ctc_vocab} tokens but the decoder has {vocab}")
        vocab = ctc_vocab
    if vocab is None:
        raise ValueError("the state_dict has neither a transducer decoder nor a CTC head")
    return AsrModelConfig(encoder=encoder, vocab_size=vocab, transducer=transducer, ctc=ctc)


def load_icefall(
    source: str | os.PathLike[str] | StateDict,
    *,
    averaged: bool = False,
    ignore_prefixes: tuple[str, ...] = (),
    pos_head_dim: int = 4,
    tokens: list[str] | None = None,
    **overrides: Any,
) -> AsrModel:
    """Builds an :class:`AsrModel` from an icefall / `zipformer` package checkpoint.

    Args:
        source: a checkpoint file (see :func:`read_icefall_checkpoint`) or a state_dict.
        averaged: use a training checkpoint's ``model_avg``.
        ignore_prefixes: icefall key prefixes to skip, e.g. ``("attention_decoder.",)`` for a
            model trained with an attention decoder (not part of zipasr).
        pos_head_dim: positional head size, which shapes alone don't determine (4 in all recipes).
        tokens: the token table, if you have it (e.g. from tokens.txt).
        overrides: replace fields of the inferred encoder config (e.g. ``causal=True``).

    Every key must be used: a key we don't know, or one our model expects and the checkpoint
    lacks, raises an error that names it. Returns the model in eval mode.
    """
    if isinstance(source, Mapping):
        state = {k.removeprefix("module."): v for k, v in source.items()}
    else:
        state = read_icefall_checkpoint(source, averaged=averaged)
        state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    config = model_config_from_icefall(state, pos_head_dim=pos_head_dim)
    if overrides:
        config = dataclasses.replace(
            config, encoder=dataclasses.replace(config.encoder, **overrides)
        )
    weights: dict[str, Tensor] = {}
    for key, value in state.items():
        try:
            ours = model_key(key)
        except KeyError:
            raise KeyError(
                f"icefall key {key!r} has no zipasr counterpart; if it belongs to a part zipasr "
                "does not have, skip it with ignore_prefixes"
            ) from None
        if ours is not None:
            weights[ours] = value
    with torch.device("meta"):
        model = AsrModel(config, tokens=tokens)
    assign_weights(model, weights)
    return model.eval()


def load_icefall_encoder(
    state_dict: StateDict,
    *,
    pos_head_dim: int = 4,
    feature_dim: int = 80,
    **overrides: Any,
) -> Zipformer:
    """Builds the :class:`Zipformer` encoder from the ``encoder_embed.*`` and ``encoder.*``
    entries of an icefall (or ``zipformer`` package) model state_dict; other entries are ignored.

    The architecture is inferred from the tensor shapes; ``overrides`` replace fields of the
    inferred :class:`ZipformerConfig` (e.g. ``causal=True``). Loading is strict: a missing or
    unexpected encoder key raises an error that names it.
    """
    config = encoder_config_from_icefall(
        state_dict, pos_head_dim=pos_head_dim, feature_dim=feature_dim
    )
    if overrides:
        config = dataclasses.replace(config, **overrides)
    with torch.device("meta"):  # no point initialising what is overwritten next
        model = Zipformer(config)
    assign_weights(model, encoder_state_from_icefall(state_dict))
    return model
