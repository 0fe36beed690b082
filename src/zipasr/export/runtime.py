"""Transcribing with an export in sherpa-onnx, and with the same model in PyTorch.

Both sides see the same audio the same way: 16 kHz mono samples, and for streaming the same
trailing silence (the runtime only runs full windows, so audio is flushed with zeros) and the
same windows of 2 * chunk + 13 feature frames advancing by 2 * chunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from zipasr.audio import fbank
from zipasr.decoding import SearchOptions, search
from zipasr.export.onnx import ExportedModel
from zipasr.frontend import FEATURE_FRAME_RATE, NUM_MEL_BINS, SAMPLE_RATE, chunk_input_frames
from zipasr.models.asr import AsrModel
from zipasr.optional import require


def tail_padding_s(chunk_frames: int) -> float:
    """Seconds of zeros appended to streamed audio: one window plus one step of feature frames
    (10 ms each), so that every real frame reaches a full window."""
    return (chunk_input_frames(chunk_frames) + 2 * chunk_frames) / FEATURE_FRAME_RATE


def _chunk_frames(exported: ExportedModel) -> int:
    return int(exported.metadata["decode_chunk_len"]) // 2


def sherpa_recognizer(exported: ExportedModel, *, num_threads: int = 1, debug: bool = False) -> Any:
    """Loads ``exported`` with the sherpa-onnx constructor for its variant (greedy search)."""
    sherpa_onnx = require("sherpa_onnx", "running an export with sherpa-onnx")
    f, tokens = exported.files, str(exported.tokens)
    common: dict[str, Any] = {
        "tokens": tokens,
        "num_threads": num_threads,
        "sample_rate": SAMPLE_RATE,
        "feature_dim": NUM_MEL_BINS,
        "decoding_method": "greedy_search",
        "debug": debug,
    }
    if exported.streaming and exported.ctc:
        return sherpa_onnx.OnlineRecognizer.from_zipformer2_ctc(model=str(f["model"]), **common)
    if exported.ctc:
        return sherpa_onnx.OfflineRecognizer.from_zipformer_ctc(model=str(f["model"]), **common)
    paths = {role: str(f[role]) for role in ("encoder", "decoder", "joiner")}
    if exported.streaming:
        return sherpa_onnx.OnlineRecognizer.from_transducer(
            **paths, model_type="zipformer2", **common
        )
    return sherpa_onnx.OfflineRecognizer.from_transducer(**paths, **common)


def sherpa_transcribe(exported: ExportedModel, waveforms: list[Tensor]) -> list[str]:
    """sherpa-onnx's greedy-search text for each (S,) 16 kHz waveform in [-1, 1]."""
    recognizer = sherpa_recognizer(exported)
    texts = []
    for waveform in waveforms:
        samples = waveform.to(torch.float32).numpy()
        stream = recognizer.create_stream()
        if exported.streaming:
            tail = np.zeros(int(tail_padding_s(_chunk_frames(exported)) * SAMPLE_RATE), np.float32)
            stream.accept_waveform(SAMPLE_RATE, samples)
            stream.accept_waveform(SAMPLE_RATE, tail)
            stream.input_finished()
            while recognizer.is_ready(stream):
                recognizer.decode_stream(stream)
            texts.append(str(recognizer.get_result(stream)).strip())
        else:
            stream.accept_waveform(SAMPLE_RATE, samples)
            recognizer.decode_stream(stream)
            texts.append(str(stream.result.text).strip())
    return texts


@torch.no_grad()
def pytorch_transcribe(
    model: AsrModel,
    waveforms: list[Tensor],
    *,
    ctc: bool,
    chunk_frames: int | None = None,
    left_context_frames: int | None = None,
) -> list[str]:
    """PyTorch greedy-search text (transducer or CTC) of each (S,) 16 kHz waveform, one at a
    time. With ``chunk_frames``, the audio is streamed as sherpa-onnx streams it."""
    if model.tokens is None:
        raise ValueError("the model has no token table (model.tokens is None)")
    model = model.eval()
    texts = []
    for waveform in waveforms:
        if chunk_frames is None:
            features = fbank(waveform, SAMPLE_RATE).unsqueeze(0)  # (1, T, 80)
            enc, lengths = model.encode(features, torch.tensor([features.shape[1]]))
        else:
            if left_context_frames is None:
                raise ValueError("streaming needs left_context_frames as well as chunk_frames")
            enc = _stream(model, waveform, chunk_frames, left_context_frames)
            lengths = torch.tensor([enc.shape[1]])
        method = "ctc_greedy_search" if ctc else "greedy_search"
        hyp = search(model, enc, lengths, SearchOptions(method))
        texts.append(hyp[0].text or "")
    return texts


def _stream(model: AsrModel, waveform: Tensor, chunk_frames: int, left_frames: int) -> Tensor:
    """(1, T', C) encoder output of the full windows of the zero-flushed waveform."""
    tail = torch.zeros(int(tail_padding_s(chunk_frames) * SAMPLE_RATE))
    features = fbank(torch.cat((waveform.to(torch.float32), tail)), SAMPLE_RATE).unsqueeze(0)
    window, step = model.encoder.chunk_input_frames(chunk_frames), 2 * chunk_frames
    state = model.initial_state(1, left_frames)
    outputs = []
    for start in range(0, features.shape[1] - window + 1, step):
        out, state = model.encode_chunk(features[:, start : start + window], state)
        outputs.append(out)
    return torch.cat(outputs, dim=1)
