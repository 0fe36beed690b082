"""sherpa-onnx loads each export unchanged and decodes real speech to PyTorch's greedy text;
int8/fp16 copies keep the metadata; the quality gate reports every variant."""

from __future__ import annotations

import pytest

from zipasr.export.metadata import read_metadata
from zipasr.export.quality import quality_gate
from zipasr.export.runtime import pytorch_transcribe, sherpa_transcribe

from .conftest import CHUNK, LEFT


@pytest.mark.parametrize(
    "variant", ["offline_transducer", "offline_ctc", "streaming_transducer", "streaming_ctc"]
)
def test_sherpa_onnx_text_equals_pytorch_greedy(exports, model, waveforms, variant):
    exported = exports[variant][0]
    geometry = {"chunk_frames": CHUNK, "left_context_frames": LEFT} if exported.streaming else {}
    expected = pytorch_transcribe(model, waveforms, ctc=exported.ctc, **geometry)
    got = sherpa_transcribe(exported, waveforms)
    print(f"{variant}: {got}")
    assert max(len(set(text.replace(" ", ""))) for text in expected) >= 3, expected  # not trivial
    assert got == expected


def test_int8_and_fp16_keep_metadata_and_load(exports, waveforms):
    fp32, int8, fp16 = exports["offline_transducer"]
    assert (int8.precision, fp16.precision) == ("int8", "fp16")
    for variant in (int8, fp16):
        assert variant.files["decoder"] == fp32.files["decoder"]  # the decoder stays float32
        for role, path in variant.files.items():
            kept = read_metadata(fp32.files[role]).items() <= read_metadata(path).items()
            assert kept, (variant.name, role)
        assert all(isinstance(t, str) for t in sherpa_transcribe(variant, waveforms[:1]))


def test_quality_gate_reports_every_variant_and_warns_past_the_margin(exports, model, dev_manifest):
    report = quality_gate(
        model, exports["offline_transducer"], dev_manifest, int8_margin=float("-inf")
    )
    print(report.summary())
    names = [f"offline RNN-T {precision}" for precision in ("fp32", "int8", "fp16")]
    assert list(report.variants) == names
    assert report.vs_pytorch["offline RNN-T fp32"].wer == 0.0
    assert report.utterances == 3
    assert len(report.warnings) == 1 and "int8" in report.warnings[0]  # margin -inf: always warns
