"""Chinese char and byte-level BPE models: an export's tokens.txt makes sherpa-onnx write the
same text as zipasr (PyTorch greedy search) for the same audio."""

from __future__ import annotations

import pytest
import torch

from zipasr.export import ExportOptions, export_onnx
from zipasr.export.runtime import pytorch_transcribe, sherpa_transcribe
from zipasr.models import AsrModel, AsrModelConfig, TransducerConfig
from zipasr.testing import tiny_config
from zipasr.text import BYTE_CHARS, has_cjk, is_byte_bpe

RESERVED = ["<blk>", "<sos/eos>", "<unk>"]
HANZI = list("今天气很好我们去公园学校医院书北京上海电话号码一二三四五六七八九十")
#: icefall's char table: one character per token.
CHAR_TABLE = RESERVED + HANZI


def _bytes(char: str) -> str:
    return "".join(BYTE_CHARS[b] for b in char.encode("utf-8"))


#: A byte-level BPE table as icefall's bbpe recipes make them: whole characters, some after ▁,
#: and bare bytes (which no random output can misuse here: the model never emits them).
BBPE_TABLE = RESERVED + [_bytes(c) for c in HANZI[:24]] + ["▁" + _bytes(c) for c in HANZI[24:]]


def _model(table: list[str], seed: int) -> AsrModel:
    """Random weights, nudged (as tests/export/conftest.py does) to emit varied tokens with
    clear margins; <sos/eos> and <unk> never win. The decoder's share of the joiner is cut, so
    that the encoder frames, not the last token, pick the next token."""
    torch.manual_seed(seed)
    config = AsrModelConfig(
        encoder=tiny_config(causal=True),
        vocab_size=len(table),
        transducer=TransducerConfig(decoder_dim=32, joiner_dim=32, context_size=2),
    )
    model = AsrModel(config, tokens=list(table), normalizer="basic").eval()
    assert model.transducer is not None
    with torch.no_grad():
        linear = model.transducer.joiner.output_linear
        linear.weight.mul_(4.0)
        linear.bias[0] -= 2.0
        linear.bias[1:3] = -100.0
        model.transducer.joiner.encoder_proj.weight.mul_(16.0)
        model.transducer.joiner.decoder_proj.weight.mul_(0.3)
    return model


@pytest.mark.slow  # two ONNX exports: ~150 s of CPU (python -m pytest -m slow tests/export)
@pytest.mark.parametrize("kind", ["char", "bbpe"])
def test_sherpa_onnx_text_equals_zipasr_text(kind, waveforms, tmp_path):
    table = CHAR_TABLE if kind == "char" else BBPE_TABLE
    assert is_byte_bpe(table) == (kind == "bbpe")
    model = _model(table, seed=1)
    exported = export_onnx(model, tmp_path / kind, ExportOptions())[0]
    written = exported.tokens.read_text(encoding="utf-8").splitlines()
    assert written == [f"{piece} {i}" for i, piece in enumerate(table)]
    expected = pytorch_transcribe(model, waveforms, ctc=False)
    got = sherpa_transcribe(exported, waveforms)
    print(f"{kind}: {got}")
    assert all(has_cjk(text) for text in expected)  # Chinese text, not byte soup
    assert max(len(set(text)) for text in expected) >= 3, expected  # not trivial
    assert got == expected
