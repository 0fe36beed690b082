"""Loading icefall (and `zipformer` package) checkpoints as zipasr models."""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from zipasr.convert.icefall import (
    encoder_config_from_icefall,
    encoder_state_from_icefall,
    icefall_key,
    icefall_model_key,
    model_key,
)
from zipasr.encoder import Zipformer
from zipasr.models.asr import AsrModel
from zipasr.models.config import AsrModelConfig, AttentionDecoderConfig, TransducerConfig
from zipasr.weights import assign_weights

StateDict = Mapping[str, Tensor]

_AED = "attention_decoder.decoder."


class CheckpointKeyError(KeyError, ValueError):
    """A checkpoint's parameter names do not fit the model: keys missing or unknown. The
    message names them as the checkpoint does (icefall's names). Both a KeyError (what
    strict loading raises) and a ValueError (a bad input, for callers that catch those)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _check_complete(
    expected: list[str], given: Mapping[str, Tensor], theirs: Callable[[str], str]
) -> None:
    """Raises :class:`CheckpointKeyError` naming, in the checkpoint's terms, the parameters the
    inferred model needs and the checkpoint lacks."""
    missing = [k for k in expected if k not in given]
    if missing:
        names = [theirs(k) for k in missing]
        more = f" and {len(names) - 8} more" if len(names) > 8 else ""
        raise CheckpointKeyError(
            f"the checkpoint lacks {len(names)} parameter(s) that the model its other tensors "
            f"describe needs: {names[:8]}{more} (a truncated or damaged file?)"
        )


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
    state_dict: StateDict,
    *,
    pos_head_dim: int = 4,
    feature_dim: int = 80,
    num_stacks: int | None = None,
    attention_decoder_num_heads: int = 8,
) -> AsrModelConfig:
    """Infers the whole architecture (encoder, heads, vocabulary, context) from tensor shapes.

    Shapes do not give the attention decoder's head count; ``attention_decoder_num_heads`` (the
    recipe's 8) is taken as given, as ``pos_head_dim`` is for the encoder. See
    :func:`encoder_config_from_icefall` for ``num_stacks``.
    """
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    encoder = encoder_config_from_icefall(
        sd, pos_head_dim=pos_head_dim, feature_dim=feature_dim, num_stacks=num_stacks
    )
    transducer = None
    vocab: int | None = None
    if "decoder.embedding.weight" in sd:
        joiner = ("joiner.encoder_proj.weight", "joiner.output_linear.weight")
        absent = [k for k in joiner if k not in sd]
        if absent:
            raise ValueError(
                f"the checkpoint has a transducer decoder (decoder.embedding.weight) but no "
                f"joiner ({', '.join(absent)} missing): an incomplete transducer, perhaps a "
                "truncated file. A CTC-only model has neither decoder.* nor joiner.*"
            )
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
    aed = _attention_decoder_config(sd, vocab, attention_decoder_num_heads)
    return AsrModelConfig(
        encoder=encoder, vocab_size=vocab, transducer=transducer, ctc=ctc, attention_decoder=aed
    )


def _attention_decoder_config(
    sd: StateDict, vocab: int, num_heads: int
) -> AttentionDecoderConfig | None:
    """The attention decoder's sizes from its tensors (None if it has none)."""
    if not any(k.startswith(_AED) for k in sd):
        return None
    needed = (
        "embed.weight",
        "layers.0.self_attn.linear_q.weight",
        "layers.0.feed_forward.0.weight",
        "output_layer.weight",
    )
    absent = [_AED + k for k in needed if _AED + k not in sd]
    if absent:
        raise CheckpointKeyError(
            f"the checkpoint has attention-decoder tensors but lacks {absent}, which give its "
            "sizes (a truncated or damaged file?)"
        )
    aed_vocab, dim = sd[_AED + "embed.weight"].shape
    if aed_vocab != vocab:
        raise ValueError(f"the attention decoder has {aed_vocab} tokens but the model {vocab}")
    layers = {int(k[len(_AED) :].split(".")[1]) for k in sd if k.startswith(_AED + "layers.")}
    if sorted(layers) != list(range(len(layers))):
        raise ValueError(f"the attention decoder has non-contiguous layers {sorted(layers)}")
    attention_dim = sd[_AED + "layers.0.self_attn.linear_q.weight"].shape[0]
    if attention_dim % num_heads:
        raise ValueError(
            f"the attention decoder's attention width {attention_dim} is not a multiple of "
            f"attention_decoder_num_heads={num_heads}; pass the model's head count"
        )
    return AttentionDecoderConfig(
        dim=dim,
        num_layers=len(layers),
        attention_dim=attention_dim,
        num_heads=num_heads,
        feedforward_dim=sd[_AED + "layers.0.feed_forward.0.weight"].shape[0],
    )


def load_icefall(
    source: str | os.PathLike[str] | StateDict,
    *,
    averaged: bool = False,
    ignore_prefixes: tuple[str, ...] = (),
    pos_head_dim: int = 4,
    tokens: list[str] | None = None,
    num_stacks: int | None = None,
    attention_decoder_num_heads: int = 8,
    **overrides: Any,
) -> AsrModel:
    """Builds an :class:`AsrModel` from an icefall / `zipformer` package checkpoint.

    Transducer, CTC and attention-decoder heads are all loaded, whichever the file has.

    Args:
        source: a checkpoint file (see :func:`read_icefall_checkpoint`) or a state_dict.
        averaged: use a training checkpoint's ``model_avg``.
        ignore_prefixes: icefall key prefixes to skip, e.g. ``("attention_decoder.",)`` to
            leave a model's attention decoder out.
        pos_head_dim: positional head size, which shapes alone don't determine (4 in all recipes).
        tokens: the token table, if you have it (e.g. from tokens.txt).
        num_stacks: encoder stacks the file must have (None: any count whose last stack runs
            at the output rate; see :func:`encoder_config_from_icefall`).
        attention_decoder_num_heads: the attention decoder's heads, which shapes alone don't
            determine (8 in the recipe).
        overrides: replace fields of the inferred encoder config (e.g. ``causal=True``).

    Every key must be used: a key we don't know, or one our model expects and the checkpoint
    lacks, raises an error that names it as the checkpoint does. Returns the model in eval mode.
    """
    if isinstance(source, Mapping):
        state = {k.removeprefix("module."): v for k, v in source.items()}
    else:
        state = read_icefall_checkpoint(source, averaged=averaged)
        state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    config = model_config_from_icefall(
        state,
        pos_head_dim=pos_head_dim,
        num_stacks=num_stacks,
        attention_decoder_num_heads=attention_decoder_num_heads,
    )
    if overrides:
        config = dataclasses.replace(
            config, encoder=dataclasses.replace(config.encoder, **overrides)
        )
    weights: dict[str, Tensor] = {}
    for key, value in state.items():
        try:
            ours = model_key(key)
        except KeyError:
            raise CheckpointKeyError(
                f"icefall key {key!r} has no zipasr counterpart; if it belongs to a part zipasr "
                "does not have, skip it with ignore_prefixes"
            ) from None
        if ours is not None:
            weights[ours] = value
    with torch.device("meta"):
        model = AsrModel(config, tokens=tokens)
    _check_complete(list(model.state_dict()), weights, icefall_model_key)
    assign_weights(model, weights)
    return model.eval()


def load_icefall_encoder(
    state_dict: StateDict,
    *,
    pos_head_dim: int = 4,
    feature_dim: int = 80,
    num_stacks: int | None = None,
    **overrides: Any,
) -> Zipformer:
    """Builds the :class:`Zipformer` encoder from the ``encoder_embed.*`` and ``encoder.*``
    entries of an icefall (or ``zipformer`` package) model state_dict; other entries are ignored.

    The architecture is inferred from the tensor shapes; ``overrides`` replace fields of the
    inferred :class:`ZipformerConfig` (e.g. ``causal=True``). Loading is strict: a missing or
    unexpected encoder key raises an error that names it (icefall's name, then ours).
    See :func:`encoder_config_from_icefall` for ``num_stacks``.
    """
    config = encoder_config_from_icefall(
        state_dict, pos_head_dim=pos_head_dim, feature_dim=feature_dim, num_stacks=num_stacks
    )
    if overrides:
        config = dataclasses.replace(config, **overrides)
    with torch.device("meta"):  # no point initialising what is overwritten next
        model = Zipformer(config)
    weights = encoder_state_from_icefall(state_dict)
    _check_complete(list(model.state_dict()), weights, lambda k: f"{icefall_key(k)} (zipasr: {k})")
    assign_weights(model, weights)
    return model
