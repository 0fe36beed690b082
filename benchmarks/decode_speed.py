"""Real-time factor of decoding with Zipformer-S on this CPU: offline greedy search, modified
beam search (beam 4) and streaming greedy search (chunk 16, left context 128), at 1 and 2
threads, in one run. RTF = processing seconds / audio seconds (< 1 is faster than real time).
With ``--compile``, also streaming with ``StreamingConfig(compile=True)`` (the encoder's chunk
step through torch.compile); its compile time is printed and left out of its RTF. With
``--bf16``, also with ``precision="bf16"`` (bfloat16 linear layers in the compiled step).

    python benchmarks/decode_speed.py [--seconds 60] [--threads 1 2] [--compile] [--bf16]

The model is a causal Zipformer-S transducer with random weights (vocabulary 500) whose blank is
biased down so that it emits tokens. It emits one on almost every 40 ms frame (the run prints
the rate, about 25 per second), more often than a trained model does on speech, so the
search's share of the time is on the high side. The audio is synthetic (chirps and noise, 5 s
clips). Feature extraction is included in every timing. After the table: the CPU, streaming's
time over offline greedy's (host noise moves both alike), and the share of streaming spent in
the encoder's chunk steps (the rest: features, search and bookkeeping).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "src"),
    str(Path(__file__).resolve().parents[1]),
]
import zipasr  # noqa: E402
from benchmarks.suite import cpu_name  # noqa: E402
from zipasr.data import fbank  # noqa: E402
from zipasr.recognize import DecodeOptions, decode_features  # noqa: E402
from zipasr.streaming import StreamingConfig, StreamingRecognizer  # noqa: E402

CLIP_S = 5.0


def build_model() -> zipasr.AsrModel:
    torch.manual_seed(0)
    tokens = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581t{i}" for i in range(497)]
    config = zipasr.AsrModelConfig(zipasr.ZipformerConfig.small(causal=True), vocab_size=500)
    model = zipasr.AsrModel(config, tokens=tokens).eval()
    assert model.transducer is not None
    with torch.no_grad():
        model.transducer.joiner.output_linear.bias[0] -= 2.0
    return model


def clips(total_s: float) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(int(CLIP_S * 16000)) / 16000
    out = []
    for i in range(max(1, int(total_s // CLIP_S))):
        chirp = np.sin(2 * np.pi * (150 + 40 * i + 400 * t) * t)
        out.append((0.3 * chirp + 0.05 * rng.standard_normal(t.shape)).astype(np.float32))
    return out


def offline(model: zipasr.AsrModel, audio: list[np.ndarray], options: DecodeOptions) -> float:
    start = time.perf_counter()
    feats = [fbank(torch.from_numpy(a), 16000) for a in audio]
    decode_features(model, feats, options)
    return time.perf_counter() - start


def streaming(
    model: zipasr.AsrModel,
    audio: list[np.ndarray],
    compile: bool = False,
    encoder_seconds: list[float] | None = None,
    precision: str = "fp32",
) -> tuple[float, int]:
    """Seconds taken and tokens emitted. A compiled recognizer first streams one clip untimed
    (that is when it compiles). ``encoder_seconds``, if given, gets the seconds spent in the
    encoder's chunk steps appended (the rest is features, search and bookkeeping)."""
    config = StreamingConfig(
        chunk_frames=16, left_context_frames=128, compile=compile, precision=precision
    )
    recognizer = StreamingRecognizer(model, config)
    in_encoder = [0.0]
    encode_chunk = recognizer._encode_chunk

    def timed_encode_chunk(*args: Any) -> Any:
        start = time.perf_counter()
        out = encode_chunk(*args)
        in_encoder[0] += time.perf_counter() - start
        return out

    recognizer._encode_chunk = timed_encode_chunk
    if compile:
        start = time.perf_counter()
        stream_clip(recognizer, audio[0])
        print(f"(compiling and one untimed clip: {time.perf_counter() - start:.0f} s)")
    tokens = 0
    start = time.perf_counter()
    in_encoder[0] = 0.0
    for clip in audio:  # one stream at a time, fed in 100 ms pieces, as a live microphone would
        tokens += len(stream_clip(recognizer, clip))
    if encoder_seconds is not None:
        encoder_seconds.append(in_encoder[0])
    return time.perf_counter() - start, tokens


def stream_clip(recognizer: StreamingRecognizer, clip: np.ndarray) -> list[int]:
    stream = recognizer.create_stream()
    for i in range(0, len(clip), 1600):
        stream.accept_waveform(clip[i : i + 1600])
        recognizer.step([stream])
    stream.input_finished()
    while recognizer.step([stream]):
        pass
    return stream.result.tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--compile", action="store_true", help="also time compiled streaming")
    parser.add_argument(
        "--bf16", action="store_true", help="also time compiled streaming with bf16 linear layers"
    )
    args = parser.parse_args()
    model, audio = build_model(), clips(args.seconds)
    seconds = len(audio) * CLIP_S
    print(f"Zipformer-S causal, {seconds:.0f} s of audio in {CLIP_S:.0f} s clips")
    # The compiled streaming runs asked for: (label, precision).
    variants = [("compiled", "fp32")] if args.compile else []
    variants += [("compiled bf16", "bf16")] if args.bf16 else []
    columns = ["offline greedy", "modified beam search (4)", "streaming greedy (chunk 16)"]
    columns += [f"streaming greedy, {label}" for label, _ in variants]
    print(f"| threads | {' | '.join(columns)} |")
    print("|---" * (len(columns) + 1) + "|")
    notes: list[str] = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        greedy = offline(model, audio, DecodeOptions("greedy_search"))
        beam = offline(model, audio, DecodeOptions("modified_beam_search", beam=4))
        encoder_seconds: list[float] = []  # of each streaming run, eager first
        stream, tokens = streaming(model, audio, encoder_seconds=encoder_seconds)
        times = [greedy, beam, stream]
        notes.append(
            f"{threads} thread(s): streaming / offline greedy {stream / greedy:.2f}x; the "
            f"encoder's chunk steps take {encoder_seconds[0] / stream:.0%} of streaming (RTF "
            f"{encoder_seconds[0] / seconds:.4f}), features and search the rest"
        )
        for label, precision in variants:
            taken, emitted = streaming(
                model, audio, compile=True, encoder_seconds=encoder_seconds, precision=precision
            )
            times.append(taken)
            if emitted != tokens:
                print(f"({label} streaming emitted {emitted} tokens, eager {tokens})")
            notes.append(
                f"{threads} thread(s), {label}: streaming / offline greedy "
                f"{taken / greedy:.2f}x; chunk steps {encoder_seconds[-1] / taken:.0%} of it "
                f"(RTF {encoder_seconds[-1] / seconds:.4f}); eager / {label} chunk steps "
                f"{encoder_seconds[0] / encoder_seconds[-1]:.2f}x"
            )
        rtf = [f"{t / seconds:.4f}" for t in times]
        print(f"| {threads} | {' | '.join(rtf)} |", flush=True)
    print(f"streaming emitted {tokens / seconds:.1f} tokens per second of audio")
    print(f"CPU: {cpu_name()}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
