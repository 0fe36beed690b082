"""The quality gate: the error rate (WER, or CER/MER for Chinese models) of each exported variant,
run by sherpa-onnx, against float32 PyTorch.

Every variant decodes the same dev utterances with greedy search. The report gives each one's
WER against the transcripts and its WER against PyTorch's own output (0% means identical
text), and warns when int8 loses more than ``int8_margin`` absolute WER points to PyTorch.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from zipasr.export.onnx import ExportedModel
from zipasr.export.runtime import pytorch_transcribe, sherpa_transcribe
from zipasr.metrics import WerStats, error_rate
from zipasr.models.asr import AsrModel
from zipasr.text import default_metric, normalize

log = logging.getLogger(__name__)

#: Default tolerated WER increase of int8 over float32 PyTorch, in absolute percentage points.
INT8_MARGIN = 1.0


@dataclass
class QualityReport:
    """WERs of PyTorch float32 and of each exported variant on one dev set.

    Attributes:
        utterances: how many utterances were decoded.
        pytorch: PyTorch float32 against the transcripts.
        variants: variant name -> its WER against the transcripts.
        vs_pytorch: variant name -> its WER taking PyTorch's output as the reference.
        warnings: one line per variant that lost more than the margin.
        identical: variant name -> utterances whose text equals PyTorch's exactly.
        metric: the error rate reported, the model's (``wer``, or ``cer``/``mer`` for
            Chinese models: :func:`zipasr.text.default_metric`).
    """

    utterances: int
    pytorch: WerStats
    variants: dict[str, WerStats] = field(default_factory=dict)
    vs_pytorch: dict[str, WerStats] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    identical: dict[str, int] = field(default_factory=dict)
    metric: str = "wer"

    def summary(self) -> str:
        lines = [f"quality gate on {self.utterances} utterances (greedy search)"]
        rate, unit = self.metric.upper(), {"cer": "characters", "mer": "units"}
        lines.append(f"  {'PyTorch fp32':24s} {rate} {self.pytorch.wer:6.2f}%")
        for name, stats in self.variants.items():
            delta = stats.wer - self.pytorch.wer
            lines.append(
                f"  {name:24s} {rate} {stats.wer:6.2f}% ({delta:+.2f}), "
                f"differs from PyTorch on {self.vs_pytorch[name].wer:.2f}% of "
                f"{unit.get(self.metric, 'words')}; same text on "
                f"{self.identical.get(name, 0)}/{self.utterances} utterances"
            )
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def read_dev_manifest(
    path: str | os.PathLike[str], limit: int | None = None
) -> tuple[list[Tensor], list[str]]:
    """16 kHz mono waveforms and transcripts of a plain JSONL manifest (``audio``, ``text``;
    relative audio paths are resolved against the manifest's folder), at most ``limit``."""
    from zipasr.audio import read_audio, to_mono_16k

    manifest = Path(path)
    waveforms: list[Tensor] = []
    texts: list[str] = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if limit is not None and len(texts) >= limit:
            break
        entry = json.loads(line)
        if "audio" not in entry or "text" not in entry:
            raise ValueError(
                f"{manifest}:{number}: each line needs 'audio' and 'text', got {sorted(entry)}"
            )
        audio = Path(entry["audio"])
        samples, rate = read_audio(audio if audio.is_absolute() else manifest.parent / audio)
        waveforms.append(to_mono_16k(samples, rate))
        texts.append(str(entry["text"]))
    if not texts:
        raise ValueError(f"{manifest} holds no utterances")
    return waveforms, texts


def quality_gate(
    model: AsrModel,
    exported: list[ExportedModel],
    manifest: str | os.PathLike[str],
    *,
    int8_margin: float = INT8_MARGIN,
    limit: int | None = None,
) -> QualityReport:
    """Decodes ``manifest`` with PyTorch (float32) and with every variant in ``exported``
    (one export's fp32/int8/fp16 copies) in sherpa-onnx, and compares the WERs."""
    if not exported:
        raise ValueError("nothing to evaluate: exported is empty")
    first = exported[0]
    waveforms, references = read_dev_manifest(manifest, limit)
    geometry: dict[str, int] = {}
    if first.streaming:
        chunk = int(first.metadata["decode_chunk_len"]) // 2
        left = int(first.metadata["left_context_len"].split(",")[0])  # stack 0 runs at 50 Hz
        geometry = {"chunk_frames": chunk, "left_context_frames": left}
    from_pytorch = pytorch_transcribe(model, waveforms, ctc=first.ctc, **geometry)
    # References in the model's own normalised form, scored in its own unit.
    metric = default_metric(model.tokens)
    references = [normalize(text, model.normalizer) for text in references]
    report = QualityReport(
        len(references), error_rate(references, from_pytorch, metric), metric=metric
    )
    for variant in exported:
        texts = sherpa_transcribe(variant, waveforms)
        report.variants[variant.name] = error_rate(references, texts, metric)
        report.vs_pytorch[variant.name] = error_rate(from_pytorch, texts, metric)
        report.identical[variant.name] = sum(a == b for a, b in zip(from_pytorch, texts))
        loss = report.variants[variant.name].wer - report.pytorch.wer
        if variant.precision == "int8" and loss > int8_margin:
            message = (
                f"{variant.name} loses {loss:.2f} WER points to PyTorch fp32 (margin "
                f"{int8_margin:g}); prefer the fp32 or fp16 files"
            )
            report.warnings.append(message)
            log.warning(message)
    return report
