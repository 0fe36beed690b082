"""What the bfloat16 streaming step does to a model's results: streams every utterance of one or
more manifests with float32 eager, float32 compiled and bfloat16 compiled chunk steps
(``StreamingConfig(compile=..., precision=...)``), one stream at a time, and prints each
run's WER against the references and against float32 eager, with the seconds it took after
its first utterance (when it compiles).

    python benchmarks/streaming_precision.py MODEL_DIR MANIFEST.jsonl [MANIFEST.jsonl ...]
        [--chunk 16] [--left 64] [--threads 1]

A manifest is any that ``zipasr decode`` reads: JSONL with ``audio`` and ``text`` as ``zipasr
demo`` writes them (``OUT/data/test.jsonl``), lhotse cuts, or a folder. The texts are compared
after the model's normaliser (upper case for English).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "src"),
    str(Path(__file__).resolve().parents[1]),
]
from benchmarks.decode_speed import stream_clip  # noqa: E402
from benchmarks.suite import cpu_name  # noqa: E402
from zipasr.decoding.hypothesis import tokens_to_text  # noqa: E402
from zipasr.metrics import WerStats, word_error_rate  # noqa: E402
from zipasr.models.asr import AsrModel  # noqa: E402
from zipasr.streaming import StreamingConfig, StreamingRecognizer  # noqa: E402
from zipasr.text import normalize  # noqa: E402

#: (name, compile, precision) of each run, float32 eager first (the others are compared to it).
RUNS = (
    ("fp32 eager", False, "fp32"),
    ("fp32 compiled", True, "fp32"),
    ("bf16 compiled", True, "bf16"),
)


@dataclass
class RunResult:
    name: str
    texts: list[str]
    wer: WerStats
    seconds_after_first: float


def stream_all(
    model: AsrModel, audio: list[np.ndarray], config: StreamingConfig
) -> tuple[list[str], float]:
    """The text of each clip, streamed alone as a microphone would feed it, and the seconds
    taken after the first clip."""
    if model.tokens is None:
        raise ValueError("the model has no token table to write its texts with")
    recognizer = StreamingRecognizer(model, config)
    texts, start = [], time.perf_counter()
    for i, clip in enumerate(audio):
        texts.append(tokens_to_text(stream_clip(recognizer, clip), model.tokens))
        if i == 0:
            start = time.perf_counter()
    return texts, time.perf_counter() - start


def compare(
    model: AsrModel,
    audio: list[np.ndarray],
    references: list[str],
    chunk: int = 16,
    left: int = 64,
    runs: tuple[tuple[str, bool, str], ...] = RUNS,
) -> list[RunResult]:
    results = []
    for name, compile, precision in runs:
        config = StreamingConfig(chunk, left, compile=compile, precision=precision)
        texts, seconds = stream_all(model, audio, config)
        results.append(RunResult(name, texts, word_error_rate(references, texts), seconds))
    return results


def read_manifests(paths: list[Path]) -> tuple[list[np.ndarray], list[str]]:
    """Every utterance's 16 kHz audio and text, from manifests of any format ``zipasr decode``
    reads (:func:`zipasr.data.load_cuts`)."""
    from zipasr.data import load_cuts
    from zipasr.data.features import load_cut_audio

    audio, texts = [], []
    for path in paths:
        for cut in load_cuts(path):
            audio.append(load_cut_audio(cut).numpy())
            texts.append(" ".join(s.text or "" for s in cut.supervisions))
    return audio, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a zipasr model folder (causal)")
    parser.add_argument("manifests", nargs="+", type=Path)
    parser.add_argument("--chunk", type=int, default=16, help="50 Hz frames per chunk")
    parser.add_argument("--left", type=int, default=64, help="50 Hz frames of left context")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import zipasr

    torch.set_num_threads(args.threads)
    model = zipasr.load(args.model)
    audio, texts = read_manifests(args.manifests)
    references = [normalize(t, model.normalizer) for t in texts]
    results = compare(model, audio, references, args.chunk, args.left)
    words = sum(len(r.split()) for r in references)
    print(f"{len(audio)} utterances, {words} words; CPU: {cpu_name()}, {args.threads} thread(s)")
    base = results[0].texts
    for r in results:
        same = sum(a == b for a, b in zip(base, r.texts))
        print(
            f"{r.name}: {r.wer}; against {results[0].name}: {word_error_rate(base, r.texts)},"
            f" same text for {same}/{len(base)}; {r.seconds_after_first:.1f} s after the first"
        )


if __name__ == "__main__":
    main()
