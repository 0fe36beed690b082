"""Long recordings from the synthetic corpus, and how well ``zipasr transcribe`` cuts them.

``make`` joins a corpus's utterances (manifests in the order given) with pauses of 0.5-3 s of
faint noise into one WAV, written block by block, and a ``.truth.json`` with every utterance's
place and text. ``score`` reads that truth and the output of
``zipasr transcribe MODEL REC.wav --json --srt REC.srt`` and reports:

- the WER of the joined recording: each hypothesis word is given to the utterance whose
  stretch (up to the middle of the pauses around it) holds its timestamp, so a word placed
  in the wrong utterance counts as an error;
- the share of segment boundaries (the middle between one segment's end and the next one's
  start) that fall inside an inserted pause;
- whether the SRT parses: indices 1, 2, ..., start < end, cues in order and not overlapping.

``oracle`` decodes the recording cut exactly at the utterances' own spans (a voice-activity
detector that knows the truth), offline or ``--streaming``: the joined WER it gives equals the
one-by-one WER when the long-form assembly and scoring lose nothing, so the rest of the gap
between ``score`` and one-by-one decoding is due to where the segmenter cuts.

``manifest`` writes the JSONL manifest of the recording's utterances, for decoding them one by
one with ``zipasr decode`` (the WER to compare with).

    python -m benchmarks.longform make --minutes 20 --out rec20.wav corpus/test.jsonl ...
    zipasr transcribe MODEL rec20.wav --json --srt rec20.srt > rec20.json
    python -m benchmarks.longform score rec20.wav rec20.json rec20.srt
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from zipasr.data import normalize_text
from zipasr.metrics import WerStats, add, align

RATE = 16_000
PAUSE_S = (0.5, 3.0)
#: RMS of the noise in the pauses, relative to full scale (-60 dBFS).
PAUSE_NOISE = 1e-3


@dataclass
class Utterance:
    id: str
    audio: str
    text: str
    start: float = 0.0
    end: float = 0.0


def make(
    manifests: list[Path],
    out: Path,
    minutes: float,
    seed: int = 0,
    pause_s: tuple[float, float] = PAUSE_S,
) -> list[Utterance]:
    """Writes ``out`` (16 kHz mono PCM16) and ``out.truth.json``; returns the utterances."""
    rng = np.random.default_rng(seed)
    pool = []
    for manifest in manifests:
        for line in manifest.read_text().splitlines():
            record = json.loads(line)
            audio = Path(record["audio"])
            pool.append(Utterance(record["id"], str(manifest.parent / audio), record["text"]))
    placed: list[Utterance] = []
    t = 0
    with soundfile.SoundFile(out, "w", RATE, 1, "PCM_16") as f:
        for utt in pool:
            pause = int(rng.uniform(*pause_s) * RATE)
            f.write((rng.standard_normal(pause) * PAUSE_NOISE).astype(np.float32))
            t += pause
            samples, rate = soundfile.read(utt.audio, dtype="float32")
            if rate != RATE:
                raise ValueError(f"{utt.audio}: {rate} Hz; the corpus is 16 kHz")
            f.write(samples)
            utt.start, utt.end = t / RATE, (t + len(samples)) / RATE
            t += len(samples)
            placed.append(utt)
            if minutes > 0 and t >= minutes * 60 * RATE:
                break
        tail = int(rng.uniform(*pause_s) * RATE)
        f.write((rng.standard_normal(tail) * PAUSE_NOISE).astype(np.float32))
    if t < minutes * 60 * RATE:
        raise ValueError(f"the manifests hold only {t / RATE / 60:.1f} minutes of speech")
    truth = [vars(u) for u in placed]
    Path(f"{out}.truth.json").write_text(json.dumps(truth, indent=0))
    return placed


def load_truth(recording: Path) -> list[Utterance]:
    return [Utterance(**u) for u in json.loads(Path(f"{recording}.truth.json").read_text())]


def joined_wer(truth: list[Utterance], words: list[tuple[str, float]]) -> WerStats:
    """WER of timestamped hypothesis words against the utterances of the recording."""
    edges = [(a.end + b.start) / 2 for a, b in zip(truth, truth[1:])]
    hyp: list[list[str]] = [[] for _ in truth]
    for word, time in words:
        hyp[bisect.bisect_right(edges, time)].append(word)
    stats = WerStats()
    for utt, words_of_utt in zip(truth, hyp):
        add(
            stats,
            align(normalize_text(utt.text).split(), normalize_text(" ".join(words_of_utt)).split()),
        )
    return stats


def boundaries_in_pauses(truth: list[Utterance], segments: list[dict]) -> tuple[int, int, int]:
    """(boundaries in a pause, boundaries whose both sides lie in one pause widened by the
    utterances' own 0.3 s of lead-in and tail, all boundaries)."""
    pauses = [(a.end, b.start) for a, b in zip(truth, truth[1:])]
    inside = strict = 0
    for a, b in zip(segments, segments[1:]):
        middle = (a["end"] + b["start"]) / 2
        if any(lo <= middle <= hi for lo, hi in pauses):
            inside += 1
        if any(lo - 0.3 <= a["end"] and b["start"] <= hi + 0.3 for lo, hi in pauses):
            strict += 1
    return inside, strict, max(0, len(segments) - 1)


CUE = re.compile(
    r"^(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+)$", re.S
)


def check_srt(text: str) -> int:
    """The number of cues; raises ValueError where the SRT is malformed."""
    last_end, count = -1.0, 0
    for block in [b for b in text.strip().split("\n\n") if b.strip()]:
        m = CUE.match(block.strip())
        if m is None:
            raise ValueError(f"not an SRT cue: {block!r}")
        g = [int(x) for x in m.groups()[:9]]
        start = g[1] * 3600 + g[2] * 60 + g[3] + g[4] / 1000
        end = g[5] * 3600 + g[6] * 60 + g[7] + g[8] / 1000
        if g[0] != count + 1:
            raise ValueError(f"cue {g[0]} follows cue {count}")
        if not start < end:
            raise ValueError(f"cue {g[0]}: start {start} is not before end {end}")
        if start < last_end:
            raise ValueError(f"cue {g[0]} starts at {start}, before the last one ended")
        last_end, count = end, count + 1
    return count


def score(recording: Path, transcript: Path, srt: Path | None) -> dict:
    truth = load_truth(recording)
    record = json.loads(transcript.read_text().splitlines()[0])
    words = [(w["word"], w["start"]) for s in record["segments"] for w in s["words"]]
    stats = joined_wer(truth, words)
    inside, strict, boundaries = boundaries_in_pauses(truth, record["segments"])
    result = {
        "utterances": len(truth),
        "minutes": round(truth[-1].end / 60, 2),
        "segments": len(record["segments"]),
        "joined_wer": str(stats),
        "boundaries_in_pauses": f"{inside}/{boundaries} ({100 * inside / max(boundaries, 1):.1f}%)",
        "both_sides_in_pauses": f"{strict}/{boundaries} ({100 * strict / max(boundaries, 1):.1f}%)",
    }
    times = [w[1] for w in words]
    result["word_times_monotonic"] = all(a <= b for a, b in zip(times, times[1:]))
    if srt is not None:
        result["srt_cues"] = check_srt(srt.read_text())
    return result


def wer_of_files(recording: Path, transcript: Path) -> WerStats:
    """The WER of ``zipasr transcribe --json`` run on the recording's utterance files."""
    texts = {}
    for line in transcript.read_text().splitlines():
        record = json.loads(line)
        texts[str(Path(record["path"]).resolve())] = record["text"] or ""
    stats = WerStats()
    for u in load_truth(recording):
        hyp = texts[str(Path(u.audio).resolve())]
        add(stats, align(normalize_text(u.text).split(), normalize_text(hyp).split()))
    return stats


class TruthVad:
    """Speech exactly where the recording's utterances are (10 ms frames), for ``oracle``."""

    def __init__(self, truth: list[Utterance]) -> None:
        self.spans = [(round(u.start * 100), round(u.end * 100)) for u in truth]
        self.frame = 0
        self.samples = 0

    def accept(self, samples: np.ndarray) -> np.ndarray:
        self.samples += samples.shape[0]
        return self._upto(self.samples // 160)

    def flush(self) -> np.ndarray:
        return self._upto(-(-self.samples // 160))

    def _upto(self, end: int) -> np.ndarray:
        frames = np.arange(self.frame, max(end, self.frame))
        speech = np.zeros(frames.shape[0], bool)
        for a, b in self.spans:
            speech |= (frames >= a) & (frames < b)
        self.frame = max(end, self.frame)
        return speech


def oracle(recording: Path, model_dir: Path, streaming: bool) -> WerStats:
    """The joined WER when the recording is cut at the utterances' true spans (no padding)."""
    import torch

    import zipasr
    from zipasr.longform import SegmenterOptions
    from zipasr.recognize import transcribe_files, transcribe_streaming
    from zipasr.streaming import StreamingConfig

    torch.set_num_threads(1)
    truth = load_truth(recording)
    model = zipasr.load(model_dir)
    cut = SegmenterOptions(min_silence_s=0.01, pad_s=0.0)
    if streaming:
        config = StreamingConfig(16, 128)
        result = transcribe_streaming(
            model, recording, config, segmenter=cut, vad=lambda: TruthVad(truth)
        )
    else:
        result = transcribe_files(model, [recording], segmenter=cut, vad=lambda: TruthVad(truth))[0]
    words = [(w.word, w.start) for s in result.segments for w in s.words]
    return joined_wer(truth, words)


def manifest(recording: Path, out: Path) -> None:
    """The recording's utterances as a JSONL manifest (absolute audio paths)."""
    lines = [
        json.dumps({"id": u.id, "audio": str(Path(u.audio).resolve()), "text": u.text})
        for u in load_truth(recording)
    ]
    out.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.longform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("manifests", nargs="+", type=Path)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--minutes", type=float, required=True, help="0: every utterance")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--pause", type=float, nargs=2, default=PAUSE_S, metavar=("MIN", "MAX"))
    s = sub.add_parser("score")
    s.add_argument("recording", type=Path)
    s.add_argument("transcript", type=Path, help="zipasr transcribe --json output")
    s.add_argument("srt", type=Path, nargs="?")
    w = sub.add_parser("wer", help="WER of `zipasr transcribe --json` on the utterance files")
    w.add_argument("recording", type=Path)
    w.add_argument("transcript", type=Path)
    o = sub.add_parser("oracle", help="decode cut at the true utterance spans")
    o.add_argument("recording", type=Path)
    o.add_argument("model", type=Path)
    o.add_argument("--streaming", action="store_true", help="chunk 16, left 128")
    j = sub.add_parser("manifest")
    j.add_argument("recording", type=Path)
    j.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "make":
        utts = make(args.manifests, args.out, args.minutes, args.seed, tuple(args.pause))
        print(f"{args.out}: {len(utts)} utterances, {utts[-1].end / 60:.1f} min")
    elif args.command == "score":
        print(json.dumps(score(args.recording, args.transcript, args.srt), indent=1))
    elif args.command == "wer":
        print(wer_of_files(args.recording, args.transcript))
    elif args.command == "oracle":
        print(oracle(args.recording, args.model, args.streaming))
    else:
        manifest(args.recording, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
