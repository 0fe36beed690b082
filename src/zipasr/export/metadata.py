"""What sherpa-onnx reads besides the graphs: ONNX metadata and ``tokens.txt``.

sherpa-onnx reads string key/value pairs from each file's ``metadata_props``; a missing required
key is fatal when it loads the model. Per-stack lists are comma-separated integers, no spaces.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from zipasr.encoder.config import ZipformerConfig
from zipasr.frontend import chunk_input_frames
from zipasr.models.asr import AsrModel
from zipasr.optional import require

#: The ``version`` value of every file (the reference's format version).
FORMAT_VERSION = "1"
MODEL_AUTHOR = "zipasr"


def _common(model_type: str, comment: str) -> dict[str, str]:
    return {
        "model_type": model_type,
        "version": FORMAT_VERSION,
        "model_author": MODEL_AUTHOR,
        "comment": comment,
    }


def _csv(values: Iterable[int]) -> str:
    return ",".join(str(int(v)) for v in values)


def offline_encoder_metadata(ctc: bool) -> dict[str, str]:
    """The offline encoder's (transducer) or the whole model's (CTC) keys."""
    if ctc:
        return _common("zipformer2_ctc", "non-streaming zipformer2 CTC")
    return _common("zipformer2", "non-streaming zipformer2")


def streaming_metadata(
    config: ZipformerConfig, chunk_frames: int, left_context_frames: int, ctc: bool
) -> dict[str, str]:
    """The streaming encoder's keys (the same for transducer and CTC: ``model_type=zipformer2``).

    Args:
        config: the encoder architecture.
        chunk_frames: chunk size in 50 Hz frames (sherpa-onnx's decode_chunk_len is twice it,
            in 100 Hz feature frames).
        left_context_frames: left context in 50 Hz frames (divided per stack by downsampling).
    """
    n = config.num_stacks
    comment = "streaming zipformer2 CTC" if ctc else "streaming zipformer2"
    return {
        **_common("zipformer2", comment),
        "decode_chunk_len": str(2 * chunk_frames),
        "T": str(chunk_input_frames(chunk_frames)),
        "num_encoder_layers": _csv(config.num_layers),
        "encoder_dims": _csv(config.dims),
        "cnn_module_kernels": _csv(config.conv_kernels),
        "left_context_len": _csv(left_context_frames // d for d in config.downsampling),
        "query_head_dims": _csv([config.query_head_dim] * n),
        "value_head_dims": _csv([config.value_head_dim] * n),
        "num_heads": _csv(config.num_heads),
    }


def decoder_metadata(model: AsrModel) -> dict[str, str]:
    """``vocab_size`` and ``context_size`` (required); blank and unk ids (informational)."""
    transducer = model.config.transducer
    if transducer is None:
        raise ValueError("this model has no transducer head; export it with ctc=True")
    unk = model.tokens.index("<unk>") if model.tokens and "<unk>" in model.tokens else None
    return {
        "vocab_size": str(model.config.vocab_size),
        "context_size": str(transducer.context_size),
        "blank_id": str(model.blank_id),
        "unk_id": str(model.blank_id if unk is None else unk),
    }


def joiner_metadata(model: AsrModel) -> dict[str, str]:
    transducer = model.config.transducer
    if transducer is None:
        raise ValueError("this model has no transducer head; export it with ctc=True")
    return {"joiner_dim": str(transducer.joiner_dim)}


def add_metadata(path: str | os.PathLike[str], metadata: Mapping[str, str]) -> None:
    """Sets ``metadata`` on the ONNX file at ``path`` (in place; existing keys are replaced)."""
    onnx = require("onnx", "ONNX metadata")
    model = onnx.load(str(path))
    set_metadata(model, metadata)
    onnx.save(model, str(path))


def set_metadata(model: object, metadata: Mapping[str, str]) -> None:
    """Sets ``metadata`` on an ``onnx.ModelProto`` (existing keys are replaced)."""
    props = model.metadata_props  # type: ignore[attr-defined]
    kept = [(p.key, p.value) for p in props if p.key not in metadata]
    del props[:]
    for key, value in [*kept, *metadata.items()]:
        entry = props.add()
        entry.key, entry.value = key, str(value)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of the ONNX file at ``path``."""
    onnx = require("onnx", "ONNX metadata")
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def write_tokens(tokens: list[str], path: str | os.PathLike[str]) -> Path:
    """Writes sherpa-onnx's ``tokens.txt``: ``<symbol> <id>`` per line, ids 0..V-1."""
    for i, token in enumerate(tokens):
        if not token or any(c.isspace() for c in token):
            raise ValueError(
                f"token {i} is {token!r}; tokens.txt symbols must be non-empty and contain no "
                "whitespace (sentencepiece writes the word boundary as U+2581)"
            )
    target = Path(path)
    target.write_text("".join(f"{t} {i}\n" for i, t in enumerate(tokens)), encoding="utf-8")
    return target
