"""A 1,000,000-cut manifest through the trainer's data path: memory and mid-epoch restore time.

The trainer reads JSONL manifests lazily (:func:`zipasr.data.open_manifest`) and its sampler
holds at most ``buffer_size`` utterances; a mid-epoch resume reopens the manifest at a byte
offset. This script measures that on a generated manifest of N utterances (default 1,000,000)
pointing at a few real WAV files, each phase in a fresh Python process, as a trainer would be:

1. ``start``: builds the training source and loader exactly as ``zipasr train`` does
   (:func:`zipasr.train.data.training_source`, :func:`zipasr.data.make_loader`), reports the
   resident memory (RSS) after the sampler is built, draws batches until ``--resume-at``
   utterances have been taken (mid-epoch), saves the sampler state as a checkpoint would, and
   records the batch that comes next.
2. ``restore``: a new process builds the same loader, loads the state and draws one batch:
   the restore time (load_state_dict + that batch), the RSS, and whether the batch is the one
   the first process drew next.
3. the same restore from a state taken early in the epoch, to show the cost does not grow with
   the position.

Usage::

    python benchmarks/lazy_manifest.py --workdir /tmp/lazy --cuts 1000000 --resume-at 500000
    python benchmarks/lazy_manifest.py --format lhotse   # a lhotse cut manifest instead

``--format zipasr`` (default) writes ``{"audio", "text", "id"}`` lines: the trainer opens each
WAV header when it reaches the line. ``--format lhotse`` writes lhotse cuts with durations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path("/work/artifacts/demo")


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def rss_mib() -> float:
    """Current resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _wavs_and_texts(count: int = 16) -> tuple[list[Path], list[str]]:
    wavs = sorted((DEMO / "data" / "wav" / "train").glob("*.wav"))[:count]
    lines = (DEMO / "data" / "train.jsonl").read_text().splitlines()[:500]
    texts = [json.loads(line)["text"] for line in lines]
    if not wavs:
        raise SystemExit(f"no WAV files under {DEMO}/data/wav/train; pass --wav-dir")
    return wavs, texts


def write_manifest(path: Path, num_cuts: int, fmt: str, wavs: list[Path], texts: list[str]) -> None:
    """N lines cycling over a few real WAV files (each line its own utterance id)."""
    import soundfile

    durations = [soundfile.info(str(w)).duration for w in wavs]
    frames = [soundfile.info(str(w)).frames for w in wavs]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        for i in range(num_cuts):
            k = i % len(wavs)
            cut_id = f"utt-{i:07d}"
            text = texts[i % len(texts)]
            if fmt == "zipasr":
                f.write(json.dumps({"id": cut_id, "audio": str(wavs[k]), "text": text}) + "\n")
                continue
            recording = {
                "id": cut_id,
                "sources": [{"type": "file", "channels": [0], "source": str(wavs[k])}],
                "sampling_rate": 16000,
                "num_samples": frames[k],
                "duration": durations[k],
                "channel_ids": [0],
            }
            supervision = {
                "id": cut_id,
                "recording_id": cut_id,
                "start": 0.0,
                "duration": durations[k],
                "channel": 0,
                "text": text,
            }
            cut = {
                "id": cut_id,
                "start": 0.0,
                "duration": durations[k],
                "channel": 0,
                "supervisions": [supervision],
                "recording": recording,
                "type": "MonoCut",
            }
            f.write(json.dumps(cut) + "\n")
    os.replace(tmp, path)


def _loader(manifest: Path, buffer_size: int):
    """The training loader as ``zipasr train`` builds it (no augmentation, one process)."""
    import torch

    from zipasr.data import AsrDataset, SkipReport, Tokenizer
    from zipasr.train.config import DataConfig
    from zipasr.train.data import loader_config, training_source
    from zipasr.train.distributed import DistInfo

    config = DataConfig(
        train_manifest=str(manifest),
        tokenizer=str(DEMO / "model" / "bpe.model"),
        max_duration_s=200.0,
        num_workers=0,
        buffer_size=buffer_size,
    )
    tokenizer = Tokenizer(config.tokenizer)
    skips = SkipReport()
    source = training_source(config, tokenizer, skips, seed=42)
    info = DistInfo(0, 1, 0, torch.device("cpu"))
    return source, AsrDataset(tokenizer), loader_config(config, 42, info, shuffle=True)


def phase_start(args) -> dict:
    import torch

    import zipasr.train.data  # noqa: F401  (the imports, before the baseline)
    from zipasr.data import make_loader

    base = rss_mib()
    source, dataset, lconfig = _loader(args.manifest, args.buffer_size)
    t0 = time.perf_counter()
    _, sampler = make_loader(source, dataset, lconfig)
    built_s = time.perf_counter() - t0
    after_build = rss_mib()
    sampler.set_epoch(1)
    it = iter(sampler)
    taken = batches = 0
    t0 = time.perf_counter()
    first_batch = None
    while taken < args.resume_at:
        batch = next(it)
        if first_batch is None:
            first_batch = rss_mib()
        taken += len(batch)
        batches += 1
    draw_s = time.perf_counter() - t0
    state = sampler.state_dict()
    torch.save(state, args.state)
    nxt = [c.id for c in next(it)]
    return {
        "rss_after_imports_mib": round(base, 1),
        "rss_after_sampler_built_mib": round(after_build, 1),
        "rss_after_first_batch_mib": round(first_batch or 0.0, 1),
        "rss_at_resume_point_mib": round(rss_mib(), 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "sampler_build_s": round(built_s, 2),
        "batches_drawn": batches,
        "cuts_taken": taken,
        "draw_s": round(draw_s, 1),
        "source_position": state["resume"]["source"],
        "state_bytes": os.path.getsize(args.state),
        "next_batch": nxt,
    }


def phase_restore(args) -> dict:
    import torch

    from zipasr.data import make_loader

    source, dataset, lconfig = _loader(args.manifest, args.buffer_size)
    t0 = time.perf_counter()
    _, sampler = make_loader(source, dataset, lconfig)
    built_s = time.perf_counter() - t0
    state = torch.load(args.state, weights_only=True)
    t0 = time.perf_counter()
    sampler.load_state_dict(state)
    sampler.set_epoch(1)
    batch = [c.id for c in next(iter(sampler))]
    restore_s = time.perf_counter() - t0
    return {
        "sampler_build_s": round(built_s, 2),
        "restore_s": round(restore_s, 3),
        "rss_after_restore_mib": round(rss_mib(), 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "first_batch": batch,
    }


def _child(args, phase: str, resume_at: int, state: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--manifest",
        str(args.manifest),
        "--state",
        str(state),
        "--resume-at",
        str(resume_at),
        "--buffer-size",
        str(args.buffer_size),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise SystemExit(f"{phase} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/zipasr-lazy-manifest"))
    parser.add_argument("--cuts", type=int, default=1_000_000)
    parser.add_argument("--resume-at", type=int, default=500_000, help="utterances before the save")
    parser.add_argument("--early", type=int, default=2_000, help="an early save, for comparison")
    parser.add_argument("--buffer-size", type=int, default=20000)
    parser.add_argument("--format", choices=("zipasr", "lhotse"), default="zipasr")
    parser.add_argument("--phase", choices=("start", "restore"), help=argparse.SUPPRESS)
    parser.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        sys.path.insert(0, str(ROOT / "src"))
        result = phase_start(args) if args.phase == "start" else phase_restore(args)
        print(json.dumps(result))
        return

    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores); python {platform.python_version()}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.manifest = args.workdir / f"{args.format}-{args.cuts}.jsonl"
    if not args.manifest.exists():
        t0 = time.perf_counter()
        write_manifest(args.manifest, args.cuts, args.format, *_wavs_and_texts())
        print(f"wrote {args.manifest} in {time.perf_counter() - t0:.0f} s")
    size = args.manifest.stat().st_size / 2**20
    print(f"manifest: {args.cuts:,} utterances, {args.format} JSONL, {size:.0f} MiB on disk")

    results = {}
    for label, at in (("mid", args.resume_at), ("early", args.early)):
        state = args.workdir / f"state-{label}.pt"
        start = _child(args, "start", at, state)
        restore = _child(args, "restore", at, state)
        restore["equal_to_uninterrupted"] = restore.pop("first_batch") == start.pop("next_batch")
        results[label] = {"start": start, "restore": restore}
        print(f"\n[{label}-epoch save after {start['cuts_taken']:,} utterances]")
        print(json.dumps(results[label], indent=2))
    (args.workdir / f"results-{args.format}.json").write_text(json.dumps(results, indent=2))
    mid, early = results["mid"], results["early"]
    print(
        f"\nsummary ({args.format}, {args.cuts:,} cuts, buffer {args.buffer_size}): RSS after "
        f"the sampler is built {mid['start']['rss_after_sampler_built_mib']} MiB (imports "
        f"alone {mid['start']['rss_after_imports_mib']} MiB); mid-epoch restore "
        f"{mid['restore']['restore_s']} s vs early {early['restore']['restore_s']} s; "
        f"batch after restore equal: {mid['restore']['equal_to_uninterrupted']}"
    )


if __name__ == "__main__":
    main()
