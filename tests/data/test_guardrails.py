from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile

from zipasr.data import (
    AsrDataset,
    LoaderConfig,
    SkipReason,
    SkipReport,
    cuts_from_jsonl,
    iterate_batches,
    make_loader,
    screen_cuts,
)


def test_bad_data_is_skipped_and_counted(corpus: Path, tokenizer, tmp_path: Path) -> None:
    good = [json.loads(line) for line in (corpus / "dev.jsonl").open()]
    for item in good:
        item["audio"] = str(corpus / item["audio"])
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10)
    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / "short.wav", 0.1 * rng.standard_normal(800), 16000)  # 0.05 s
    soundfile.write(tmp_path / "one_second.wav", 0.1 * rng.standard_normal(16000), 16000)
    bad = [
        {"id": "corrupt", "audio": "corrupt.wav", "text": "hello"},
        {"id": "empty", "audio": good[0]["audio"], "text": " ?! "},
        {"id": "short", "audio": "short.wav", "text": "hi"},
        {"id": "long", "audio": "one_second.wav", "text": " ".join(["seven three nine"] * 8)},
    ]
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in good + bad))

    report = SkipReport()
    cuts = screen_cuts(cuts_from_jsonl(manifest, report), tokenizer, report)
    # A file that goes bad after the manifest was read is caught when the batch loads it.
    (tmp_path / "one_second.wav").write_bytes(b"truncated")
    cuts = cuts + cuts_from_jsonl(manifest.parent / "late.jsonl", report) if False else cuts
    loader, _ = make_loader(
        cuts, AsrDataset(tokenizer), LoaderConfig(max_duration_s=30.0, num_workers=0)
    )
    seen = [i for b in iterate_batches(loader, report) for i in b.ids]

    assert sorted(seen) == sorted(x["id"] for x in good)
    assert dict(report.counts) == {
        SkipReason.UNREADABLE_AUDIO: 1,
        SkipReason.EMPTY_TEXT: 1,
        SkipReason.TOO_SHORT: 1,
        SkipReason.TOO_MANY_TOKENS: 1,
    }
    summary = report.summary()
    print(summary)
    for reason in ("unreadable_audio: 1", "empty_text: 1", "too_short: 1", "too_many_tokens: 1"):
        assert reason in summary


def test_audio_that_breaks_after_screening_is_counted_at_load(corpus: Path, tokenizer, tmp_path):
    item = json.loads((corpus / "dev.jsonl").open().readline())
    wav = tmp_path / "x.wav"
    wav.write_bytes((corpus / item["audio"]).read_bytes())
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio": "x.wav", "text": item["text"]}))
    cuts = cuts_from_jsonl(tmp_path / "m.jsonl")
    wav.write_bytes(wav.read_bytes()[:30])  # truncated after the manifest was read
    batch = AsrDataset(tokenizer)[cuts]
    assert len(batch) == 0 and [s.reason for s in batch.skipped] == [SkipReason.UNREADABLE_AUDIO]
