"""Session fixtures: a tiny causal model with both heads, a few synthetic utterances, and the
four sherpa-onnx exports of the model (each exported once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from zipasr.audio import read_audio
from zipasr.cli.main import main
from zipasr.export import ExportedModel, ExportOptions, export_onnx
from zipasr.export.metadata import read_metadata
from zipasr.models import AsrModel, AsrModelConfig, TransducerConfig
from zipasr.models.storage import save
from zipasr.testing import tiny_config

CHUNK, LEFT = 16, 128
LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: icefall's reserved ids, then word-initial and word-internal letters.
TOKENS = ["<blk>", "<sos/eos>", "<unk>", *("\u2581" + c for c in LETTERS), *LETTERS]


@pytest.fixture(scope="session")
def model() -> AsrModel:
    """Random weights, nudged to emit varied letters with clear argmax margins: larger output
    weights, a lower blank, per-token CTC biases; <sos/eos> and <unk> never win (sherpa-onnx
    treats <unk> as blank, which PyTorch does not)."""
    torch.manual_seed(0)
    config = AsrModelConfig(
        encoder=tiny_config(causal=True),
        vocab_size=len(TOKENS),
        transducer=TransducerConfig(decoder_dim=32, joiner_dim=32, context_size=2),
        ctc=True,
    )
    model = AsrModel(config, tokens=list(TOKENS)).eval()
    assert model.transducer is not None and model.ctc is not None
    with torch.no_grad():
        for linear in (model.transducer.joiner.output_linear, model.ctc.proj):
            linear.weight.mul_(4.0)
            linear.bias[0] -= 2.0
            linear.bias[1:3] = -100.0
        model.transducer.joiner.encoder_proj.weight.mul_(4.0)
        model.ctc.proj.bias[3:] += torch.randn(len(TOKENS) - 3) * 2.0
    return model


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    from zipasr.data.synth import build_corpus

    out = tmp_path_factory.mktemp("export_corpus")
    build_corpus(out, hours=0.01, seed=3)
    return out


@pytest.fixture(scope="session")
def dev_manifest(corpus: Path) -> Path:
    """Three utterances (real espeak-ng speech, 2-5 s each) as a JSONL manifest."""
    lines = (corpus / "train.jsonl").read_text().splitlines()[:3]
    path = corpus / "export-dev.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def waveforms(dev_manifest: Path) -> list[torch.Tensor]:
    entries = [json.loads(line) for line in dev_manifest.read_text().splitlines()]
    return [read_audio(dev_manifest.parent / e["audio"])[0][0] for e in entries]


@pytest.fixture(scope="session")
def exports(model: AsrModel, tmp_path_factory) -> dict[str, list[ExportedModel]]:
    """variant -> [fp32, ...]: the offline transducer with int8 and fp16 copies, the others
    fp32. The streaming CTC one goes through ``zipasr export`` (the CLI) from a saved model."""
    root = tmp_path_factory.mktemp("onnx")
    out = {
        "offline_transducer": export_onnx(
            model, root / "offline_transducer", ExportOptions(int8=True, fp16=True)
        ),
        "offline_ctc": export_onnx(model, root / "offline_ctc", ExportOptions(ctc=True)),
        "streaming_transducer": export_onnx(
            model,
            root / "streaming_transducer",
            ExportOptions(streaming=True, chunk_frames=CHUNK, left_context_frames=LEFT),
        ),
    }
    saved = save(model, root / "model")
    target = root / "streaming_ctc"
    args = ["export", str(saved), "--out", str(target), "--ctc", "--streaming"]
    assert main([*args, "--chunk", str(CHUNK), "--left", str(LEFT)]) == 0
    out["streaming_ctc"] = [
        ExportedModel(
            {"model": target / "model.onnx"},
            target / "tokens.txt",
            ctc=True,
            streaming=True,
            metadata=read_metadata(target / "model.onnx"),
        )
    ]
    return out
