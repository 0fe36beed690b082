"""Search speed on a trained model: modified beam search (beam 4) and CTC prefix beam search
(beam 4), optionally with an n-gram LM, as real-time factors (seconds / audio seconds).

The encoder runs once per batch outside the timings ("search RTF": the search alone), and once
more inside them ("decode RTF": features, encoder and search, as ``zipasr decode`` does). Run it
against two source trees in one go to compare code before and after a change:

    git archive <old-commit> src | tar -x -C /tmp/before
    python benchmarks/search_speed.py MODEL MANIFEST --src /tmp/before/src
    python benchmarks/search_speed.py MODEL MANIFEST --lm LM.arpa

The CPU model and thread count are printed with the numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("manifest", help="JSONL with 'audio' paths relative to it")
    parser.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    parser.add_argument("--lm", help="an ARPA token LM (only with code that has LM fusion)")
    parser.add_argument("--lm-scale", type=float, default=0.3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, args.src)
    import torch

    import zipasr
    from zipasr import decoding
    from zipasr.audio import fbank, pad_features, read_audio

    torch.set_num_threads(args.threads)
    model = zipasr.load(args.model)
    root = Path(args.manifest).parent
    rows = [json.loads(line) for line in Path(args.manifest).read_text().splitlines() if line]
    audio = [read_audio(root / r["audio"]) for r in rows]
    seconds = sum(s.shape[-1] / rate for s, rate in audio)
    print(
        f"zipasr from {Path(zipasr.__file__).parent}; {len(rows)} files, {seconds:.1f} s; "
        f"{cpu_model()}, {args.threads} thread(s)"
    )
    feats = [fbank(s, rate) for s, rate in audio]
    batches = []
    with torch.no_grad():
        for i in range(0, len(feats), args.batch_size):
            x, n = pad_features(feats[i : i + args.batch_size])
            batches.append(model.encode(x, n))

    extra: dict = {}
    if args.lm:
        from zipasr.decoding import Fusion, NgramLm

        extra["fusion"] = Fusion(NgramLm(args.lm, model.tokens), args.lm_scale)

    def mbs(enc, n):
        return decoding.modified_beam_search(model, enc, n, beam=4, **extra)

    def ctc(enc, n):
        return decoding.ctc_prefix_beam_search(
            model.ctc_log_probs(enc), n, beam=4, blank=model.blank_id, **extra
        )

    searches = {"modified_beam_search": mbs}
    if model.ctc is not None:
        searches["ctc_prefix_beam_search"] = ctc
    label = " + LM" if args.lm else ""
    for name, run in searches.items():
        start = time.perf_counter()
        for enc, n in batches:
            run(enc, n)
        search_s = time.perf_counter() - start
        start = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(audio), args.batch_size):
                group = [fbank(s, rate) for s, rate in audio[i : i + args.batch_size]]
                x, n = pad_features(group)
                run(*model.encode(x, n))
        decode_s = time.perf_counter() - start
        print(
            f"{name}{label} (beam 4): search RTF {search_s / seconds:.4f} "
            f"({search_s:.2f} s); decode RTF {decode_s / seconds:.4f} ({decode_s:.2f} s)"
        )


if __name__ == "__main__":
    main()
