"""Real-time factor of decoding with Zipformer-S on this CPU: offline greedy search, modified
beam search (beam 4) and streaming greedy search (chunk 16, left context 128), at 1 and 2
threads, in one run. RTF = processing seconds / audio seconds (< 1 is faster than real time).
With ``--compile``, also streaming with ``StreamingConfig(compile=True)`` (the encoder's chunk
step through torch.compile); its compile time is printed and left out of its RTF.

    python benchmarks/decode_speed.py [--seconds 60] [--threads 1 2] [--compile]

The model is a causal Zipformer-S transducer with random weights (vocabulary 500) whose blank is
biased down so that it emits tokens. It emits one on almost every 40 ms frame (the run prints
the rate, about 25 per second), more often than a trained model does on speech, so the
search's share of the time is on the high side. The audio is synthetic (chirps and noise, 5 s
clips). Feature extraction is included in every timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import zipasr  # noqa: E402
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
    model: zipasr.AsrModel, audio: list[np.ndarray], compile: bool = False
) -> tuple[float, int]:
    """Seconds taken and tokens emitted. A compiled recognizer first streams one clip untimed
    (that is when it compiles)."""
    config = StreamingConfig(chunk_frames=16, left_context_frames=128, compile=compile)
    recognizer = StreamingRecognizer(model, config)
    if compile:
        start = time.perf_counter()
        stream_clip(recognizer, audio[0])
        print(f"(compiling and one untimed clip: {time.perf_counter() - start:.0f} s)")
    tokens = 0
    start = time.perf_counter()
    for clip in audio:  # one stream at a time, fed in 100 ms pieces, as a live microphone would
        tokens += len(stream_clip(recognizer, clip))
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
    args = parser.parse_args()
    model, audio = build_model(), clips(args.seconds)
    seconds = len(audio) * CLIP_S
    print(f"Zipformer-S causal, {seconds:.0f} s of audio in {CLIP_S:.0f} s clips")
    columns = ["offline greedy", "modified beam search (4)", "streaming greedy (chunk 16)"]
    columns += ["streaming greedy, compiled"] if args.compile else []
    print(f"| threads | {' | '.join(columns)} |")
    print("|---" * (len(columns) + 1) + "|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        greedy = offline(model, audio, DecodeOptions("greedy_search"))
        beam = offline(model, audio, DecodeOptions("modified_beam_search", beam=4))
        stream, tokens = streaming(model, audio)
        times = [greedy, beam, stream]
        if args.compile:
            compiled, compiled_tokens = streaming(model, audio, compile=True)
            times.append(compiled)
            if compiled_tokens != tokens:
                print(f"(compiled streaming emitted {compiled_tokens} tokens, eager {tokens})")
        rtf = [f"{t / seconds:.4f}" for t in times]
        print(f"| {threads} | {' | '.join(rtf)} |", flush=True)
    print(f"streaming emitted {tokens / seconds:.1f} tokens per second of audio")


if __name__ == "__main__":
    main()
