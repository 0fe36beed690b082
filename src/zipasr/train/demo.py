"""``zipasr demo``: synthesise a corpus, train a small streaming recognizer on CPU, score it.

The one model is causal and trained with random chunk sizes (as the recipe trains its streaming
models), so it recognises both offline (full context) and in chunks. The held-out split has
voices and sentences never seen in training; with the English demo's ``wide`` sentence pool
about half of its sentences hold a word that no training sentence has. Beside the model the
demo leaves a token n-gram language model of the pool's training text (``model/lm.arpa``),
estimated from many more sentences than the audio speaks, and reports beam search with and
without it. The settings are :func:`demo_config`, mirrored by ``recipes/demo.yaml``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from zipasr.train.config import (
    ChunkingConfig,
    DataConfig,
    LossConfig,
    ModelSpec,
    OptimConfig,
    TrainConfig,
)

log = logging.getLogger(__name__)

#: Hours of synthetic speech (all splits) for the full demo and for ``--quick``.
DEMO_HOURS, QUICK_HOURS = 1.0, 0.03
#: Optimizer steps (30 s of audio each) of the full demo by language, and of ``--quick``; the
#: learning-rate, loss warm-up, averaging, checkpoint and validation schedules are sized from
#: the count. English stops at 1000 to keep within 15 minutes on a slow 2-core host (13.4 min
#: there; 1350 steps took 18.7), at a cost: test WER 58.5% against 52.8% at 1350 (beam 4).
#: Mandarin, with ten times the tokens to learn, was still improving fast at 1350 (dev CER
#: 29.2% at step 886, 16.7% at 1350), so it keeps 1350.
DEMO_STEPS: Mapping[str, int] = MappingProxyType({"en": 1000, "cmn": 1350})
QUICK_STEPS = 30
#: Streaming decode setting reported by the demo: 320 ms chunks, 1.28 s of left context.
STREAMING_CHUNK = (16, 64)
#: The English demo's sentence pool: about 3,150 words, 12% of the lemmas never in training.
DEMO_POOL = "wide"
#: The demo's language model: a token n-gram of this order over this many sentences of the
#: pool's training split (full demo, ``--quick``), fused in beam search with this weight and
#: this blank penalty (the LM alone deletes: it prices every token, never a blank). Chosen on
#: the wide-pool demo's dev split: scale 0.5 alone gave 36.4% WER, 0.6 with penalty 1.5 31.2%.
DEMO_LM_ORDER, DEMO_LM_SCALE, DEMO_BLANK_PENALTY = 6, 0.6, 1.5
DEMO_LM_SENTENCES, QUICK_LM_SENTENCES = 50_000, 2_000


def demo_schedule(steps: int) -> dict[str, float]:
    """How the demo sizes its schedules for ``steps`` optimizer steps: Eden's decay over a third
    of them (``lr_batches``), its warm-up over a tenth (``warmup_batches``), and the loss-weight
    warm-up (simple to pruned transducer loss) over a quarter (``warm_step``, at least 1). The
    convergence benchmark sizes its step budgets with it too."""
    if steps < 1:
        raise ValueError(f"steps={steps}: train for at least 1 step")
    return {"lr_batches": steps / 3, "warmup_batches": steps / 10, "warm_step": max(1, steps // 4)}


#: Training processes (data-parallel, gloo). On a CPU, two single-threaded processes that split
#: each batch train about twice as fast as one process with two threads.
DEMO_PROCESSES = 2


def demo_config(
    out_dir: str | Path,
    quick: bool = False,
    language: str = "en",
    *,
    cr_ctc: bool = False,
    attention_decoder: bool = False,
    steps: int | None = None,
) -> TrainConfig:
    """The demo's training run: a ~3 M parameter causal Zipformer transducer + CTC, meant to
    run as :data:`DEMO_PROCESSES` data-parallel processes (``max_duration_s`` is per process).

    ``language="cmn"`` (Mandarin) trains on characters (the ``char`` tokenizer, every character
    of the training transcripts a token) with the ``basic`` normaliser, and is scored by CER;
    its learning rate is 0.09 instead of 0.045, its CTC weight 1.0 instead of 0.5, its decoder
    sees one token of context instead of two, and its exported running average starts at three
    quarters of the steps instead of half-way; everything else is the English demo's.

    ``cr_ctc`` trains with consistency-regularised CTC on half the audio per batch, so that a
    step, which encodes two views, costs what a plain step does; its consistency weight is 0.2
    of the CTC weight, the recipe's proportion. Like the plain demo it uses no SpecAugment, so
    the two views differ by the model's own dropout and layer skipping: with the recipe's
    masked views (time-mask ratio 2.5 or 1) the demo's validation loss stalled near 2.0 per
    frame (test WER 99.6%), while identical views learnt slightly faster than plain training
    at the same batch size (2.02 vs 2.09 after 337 steps). Recipes keep the masked views
    (``data.spec_augment``). ``attention_decoder`` adds a small attention-decoder head (128 wide,
    2 layers) with the recipe's loss weight 0.8 and label smoothing 0.1."""
    from zipasr.data.synth.languages import language as language_named

    spec = language_named(language)
    out = Path(out_dir)
    model = ModelSpec(
        preset="small",
        causal=True,
        num_layers=(1, 1, 1, 1, 1, 1),
        dims=(96, 128, 128, 128, 128, 96),
        num_heads=(2, 2, 2, 2, 2, 2),
        feedforward_dims=(256, 384, 384, 384, 384, 256),
        decoder_dim=128,
        joiner_dim=128,
        ctc=True,
    )
    if quick:
        model.preset = "tiny"
        model.num_layers = model.dims = model.num_heads = model.feedforward_dims = None
        model.decoder_dim = model.joiner_dim = 32
    if attention_decoder:
        model.attention_decoder = True
        model.attention_decoder_dim = model.attention_decoder_attention_dim = 128
        model.attention_decoder_num_layers = 2
        model.attention_decoder_num_heads = 4
        model.attention_decoder_feedforward_dim = 512
        if quick:
            model.attention_decoder_dim = model.attention_decoder_attention_dim = 32
            model.attention_decoder_feedforward_dim = 64
    if steps is None:
        steps = QUICK_STEPS if quick else DEMO_STEPS[spec.code]
    schedule = demo_schedule(steps)
    every = max(1, steps // 4)  # checkpoints and validations: four in a run
    max_duration_s = 10.0 if quick else 15.0
    config = TrainConfig(
        exp_dir=str(out / "exp"),
        model=model,
        data=DataConfig(
            train_manifest=str(out / "data" / "train.jsonl"),
            valid_manifest=str(out / "data" / "dev.jsonl"),
            # About one token per letter: on an hour of speech, letters are learnt several times
            # sooner than word-sized pieces (a 256-piece vocabulary was still emitting nothing
            # after 400 steps).
            vocab_size=40 if language == "en" else 500,
            tokenizer_type=spec.tokenizer,
            normalizer=spec.normalizer,
            # Per process; DEMO_PROCESSES of them make a 30 s batch (20 s for --quick).
            max_duration_s=max_duration_s,
            num_buckets=4 if quick else 10,
            num_workers=0,
            precompute_features=True,
            spec_augment=False,
        ),
        optim=OptimConfig(
            lr_batches=schedule["lr_batches"],
            lr_epochs=100.0,
            warmup_batches=schedule["warmup_batches"],
        ),
        # A larger CTC weight than the recipe's 0.2: CTC finds the alignment sooner.
        loss=LossConfig(ctc_loss_scale=0.5, warm_step=int(schedule["warm_step"])),
        chunking=ChunkingConfig(
            chunk_frames=(16, 32, 64, None), left_context_frames=(64, 128, None)
        ),
        seed=42,
        num_epochs=1000,
        max_steps=steps,
        # With the recipe's 600 s per reference batch, 1000 steps of 30 s would be 50 reference
        # batches: every dropout, skip and balancer schedule would stay at its initial
        # strength. At 1 s a step is 30 reference batches, and the schedules, most of which
        # end at 20000, have annealed by step 667.
        ref_duration_s=1.0,
        average_period=10,
        average_start_step=steps // 2,
        save_every_steps=every,
        keep_last=1,
        keep_epochs=0,
        valid_every_steps=every,
        threads=None,
    )
    if spec.tokenizer == "char":
        # 212 characters are learnt much later than 40 letter tokens: with the English settings
        # the model was still near its plateau at the end (CER 89%, fluent template sentences).
        # Twice the learning rate, CTC as heavy as the transducer and a one-token decoder
        # context (icefall's choice for Chinese characters) leave it by step ~900; the model
        # still improves fast in the last quarter, so the exported average starts there (from
        # half-way it was 14 points of CER worse than the last weights).
        config.model.context_size = 1
        config.loss = dataclasses.replace(config.loss, ctc_loss_scale=1.0)
        config.optim = dataclasses.replace(config.optim, base_lr=0.09)
        config.average_start_step = 3 * steps // 4
    if cr_ctc:
        config.data.max_duration_s = max_duration_s / 2
        config.loss = dataclasses.replace(
            config.loss, cr_ctc=True, cr_loss_scale=0.2 * config.loss.ctc_loss_scale
        )
    return config


@dataclass
class DemoResult:
    """What the demo measured. Durations in seconds."""

    model_dir: Path
    wer_beam: str
    wer_offline: str
    wer_streaming: str
    #: The headline: offline modified beam search (beam 4), in percent (a CER for Mandarin).
    wer_percent: float
    #: Test utterances for which true streaming gave the simulated-streaming text, of how many.
    streaming_agreement: tuple[int, int]
    example_file: Path
    example_text: str
    seconds: dict[str, float]
    #: With an attention decoder: offline WER of each rescoring method (beam 4), by name.
    wer_rescored: dict[str, str] = field(default_factory=dict)
    #: Beam-search error rate of the test sentences whose words all occur in the training
    #: transcripts ("seen") and of those with at least one word that never does ("unseen");
    #: "no sentences" where a group is empty (the templates pool has no unseen words).
    wer_by_words: dict[str, str] = field(default_factory=dict)
    #: Modified beam search (beam 4) with the demo's language model (``lm_path``), overall and
    #: by seen/unseen words; English only ("", {} and None for Mandarin).
    wer_lm: str = ""
    wer_by_words_lm: dict[str, str] = field(default_factory=dict)
    lm_path: Path | None = None


def wer_by_seen_words(
    train_manifest: Path,
    test_manifest: Path,
    hypotheses: dict[str, str],
    metric: str = "wer",
    normalizer: str = "english",
) -> dict[str, str]:
    """Error rates of the test sentences made only of words heard in training ("seen") and of
    those holding at least one word no training transcript contains ("unseen").

    Both manifests may be of any format :func:`zipasr.data.load_cuts` reads; the test set's
    utterance ids are the ones :func:`zipasr.recognize.decode_manifest` reports. References and
    hypotheses are compared after ``normalizer``; utterances absent from ``hypotheses`` (skipped
    by the decoder) are left out of both groups.
    """
    from zipasr.data.manifests import load_cuts, manifest_texts
    from zipasr.metrics import error_rate
    from zipasr.text import metric_units
    from zipasr.text import normalizer as normalizer_of

    normalize = normalizer_of(normalizer)
    heard: set[str] = set()
    for text in manifest_texts(train_manifest):
        heard.update(metric_units(normalize(text), metric))
    groups: dict[str, tuple[list[str], list[str]]] = {"seen": ([], []), "unseen": ([], [])}
    for cut in load_cuts(test_manifest):
        if cut.id not in hypotheses:
            continue
        utt_id = cut.id
        reference = normalize(" ".join(s.text or "" for s in cut.supervisions))
        new = any(u not in heard for u in metric_units(reference, metric))
        refs, hyps = groups["unseen" if new else "seen"]
        refs.append(reference)
        hyps.append(normalize(hypotheses[utt_id]))
    return {
        name: f"{error_rate(refs, hyps, metric)} ({len(refs)} sentences)"
        if refs
        else "no sentences"
        for name, (refs, hyps) in groups.items()
    }


def check_existing_corpus(
    data: Path, language: str, hours: float | None = None, pool: str | None = None
) -> None:
    """Checks that the corpus already in ``data`` is the one asked for: built for all three
    splits, in ``language``, and with ``hours`` and ``pool`` where those are given. A corpus
    without ``corpus.json`` (built by an older zipasr) is taken as it is.

    Raises:
        ValueError: naming what differs, and how to get the corpus asked for.
    """
    from zipasr.data.synth import read_corpus_settings
    from zipasr.data.synth.corpus import DEFAULT_FRACTIONS, SPLITS

    recorded = read_corpus_settings(data)
    if not recorded:
        log.info("%s: a corpus without corpus.json; used as it is", data)
        return
    asked = {"language": language, "hours": hours, "pool": pool}
    differ = [
        f"{key} {recorded.get(key)!r} (asked: {value!r})"
        for key, value in asked.items()
        if value is not None and recorded.get(key) != value
    ]
    missing = [s for s in SPLITS if s not in recorded.get("splits", SPLITS)]
    if missing and not differ:  # the corpus asked for, less some splits: they can be added
        add = [
            *("zipasr", "synth", "--out", str(data), "--splits", *missing),
            *("--language", str(recorded.get("language")), "--pool", str(recorded.get("pool"))),
            *("--hours", str(recorded.get("hours")), "--seed", str(recorded.get("seed"))),
            "--fractions",
            *(str(f) for f in recorded.get("fractions", DEFAULT_FRACTIONS)),
        ]
        if recorded.get("neural_share"):
            add += ["--neural-share", str(recorded["neural_share"])]
        them = "it" if len(missing) == 1 else "them"
        raise ValueError(
            f"{data} holds a corpus with no {'/'.join(missing)} split; add {them} with "
            f"`{shlex.join(add)}`, or remove {data} to build the whole corpus again"
        )
    if missing:
        differ.append(f"no {'/'.join(missing)} split")
    if differ:
        raise ValueError(
            f"{data} already holds a corpus with {', '.join(differ)}; remove {data} (or choose "
            "another output folder) to build the one asked for"
        )


def run_demo(
    out_dir: str | Path,
    quick: bool = False,
    language: str = "en",
    *,
    cr_ctc: bool = False,
    attention_decoder: bool = False,
    pool: str | None = None,
    hours: float | None = None,
    steps: int | None = None,
) -> DemoResult:
    """Builds ``out_dir/data``, trains into ``out_dir/exp``, leaves the model in
    ``out_dir/model`` and returns the test-split error rates (WER for English, CER for
    ``language="cmn"``): offline with modified beam search (beam 4) and greedy search, and
    streaming (simulated, greedy). ``cr_ctc`` and ``attention_decoder`` train the variants of
    :func:`demo_config`. ``pool`` picks the corpus's sentence pool
    (:func:`zipasr.data.synth.build_corpus`) and ``hours`` its size (the demo's 1 h and wide
    pool by default, 0.03 h for ``quick``); an existing ``out_dir/data`` is used if its
    ``corpus.json`` records these (defaults included), and refused otherwise
    (:func:`check_existing_corpus`). ``steps`` trains longer (or
    shorter) than the demo's (:data:`DEMO_STEPS`), with every schedule sized for it."""
    from zipasr.data.synth import build_corpus, read_corpus_settings, training_text
    from zipasr.data.synth.corpus import CORPUS_SETTINGS, DEFAULT_FRACTIONS
    from zipasr.data.synth.languages import language as language_named
    from zipasr.decoding import RESCORERS, NgramLm
    from zipasr.loading import load
    from zipasr.models.storage import save
    from zipasr.recognize import (
        DecodeOptions,
        decode_manifest,
        train_lm,
        transcribe_files,
        transcribe_streaming,
    )
    from zipasr.streaming import StreamingConfig
    from zipasr.train.distributed import launch
    from zipasr.train.loop import train

    out = Path(out_dir)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    data = out / "data"
    config = demo_config(  # first: a bad argument fails before minutes of synthesis
        out, quick, language, cr_ctc=cr_ctc, attention_decoder=attention_decoder, steps=steps
    )
    if hours is None:
        hours = QUICK_HOURS if quick else DEMO_HOURS
    if pool is None:
        pool = DEMO_POOL if language == "en" else next(iter(language_named(language).pools))
    if (data / "test.jsonl").exists() or (data / CORPUS_SETTINGS).exists():
        check_existing_corpus(data, language, hours, pool)  # the corpus asked for, or an error
    else:
        stats = build_corpus(data, hours, seed=0, language=language, pool=pool)
        log.info("corpus: %s", stats.summary())
    corpus = read_corpus_settings(data)
    seconds["corpus"] = time.perf_counter() - start
    threads = max(1, (os.cpu_count() or 1) // DEMO_PROCESSES)
    launch(train, (config,), DEMO_PROCESSES, threads)  # config.threads stays None: launch sets it
    seconds["train"] = time.perf_counter() - start - seconds["corpus"]
    trained = Path(config.exp_dir) / "model"
    model = load(trained)
    save(model, out / "model")
    for name in ("bpe.model", "tokenizer.json"):  # the tokenizer, with its kind and normaliser
        (out / "model" / name).write_bytes((trained / name).read_bytes())
    lm_summary = None
    if language == "en":  # the LM's weights were chosen on English; Mandarin has none yet
        lm_start = time.perf_counter()
        lm_text = training_text(  # a corpus without corpus.json: the arguments' pool, seed 0
            QUICK_LM_SENTENCES if quick else DEMO_LM_SENTENCES,
            seed=corpus.get("seed", 0),
            fractions=tuple(corpus.get("fractions", DEFAULT_FRACTIONS)),
            language=corpus.get("language", language),
            pool=corpus.get("pool", pool),
        )
        lm_summary = train_lm(out / "model", lm_text, out / "model" / "lm.arpa", DEMO_LM_ORDER)
        log.info("language model: %s", lm_summary)
        seconds["lm"] = time.perf_counter() - lm_start
    offline = decode_manifest(model, data / "test.jsonl", out / "decode" / "offline")
    beam = decode_manifest(
        model,
        data / "test.jsonl",
        out / "decode" / "beam",
        DecodeOptions(method="modified_beam_search", beam=4),
    )
    with_lm = None
    if lm_summary is not None:
        with_lm = decode_manifest(
            model,
            data / "test.jsonl",
            out / "decode" / "beam-lm",
            DecodeOptions(
                method="modified_beam_search",
                beam=4,
                lm=NgramLm(lm_summary.path, model.tokens or []),
                lm_scale=DEMO_LM_SCALE,
                blank_penalty=DEMO_BLANK_PENALTY,
            ),
        )
    chunk, left = STREAMING_CHUNK
    streaming = decode_manifest(
        model,
        data / "test.jsonl",
        out / "decode" / "streaming",
        DecodeOptions(chunk_frames=chunk, left_context_frames=left),
    )
    # True streaming (raw audio in 100 ms pieces, incremental fbank, chunk by chunk) must give
    # the text of the simulated-streaming decode above.
    wavs = sorted((data / "wav" / "test").glob("*.wav"))
    live = StreamingConfig(chunk_frames=chunk, left_context_frames=left, endpoint_rules=())
    same = sum(
        transcribe_streaming(model, wav, live).text == streaming.texts.get(wav.stem) for wav in wavs
    )
    rescored = {}
    if model.attention_decoder is not None:
        for method in RESCORERS:
            report = decode_manifest(
                model, data / "test.jsonl", out / "decode" / method, DecodeOptions(method=method)
            )
            rescored[method] = str(report.stats)
    example = wavs[0]
    hyp = transcribe_files(model, [example])[0]
    seconds["decode"] = time.perf_counter() - start - sum(seconds.values())
    seconds["total"] = time.perf_counter() - start

    def by_words(report) -> dict[str, str]:
        return wer_by_seen_words(
            data / "train.jsonl",
            data / "test.jsonl",
            report.texts,
            report.stats.metric,
            model.normalizer,
        )

    return DemoResult(
        out / "model",
        str(beam.stats),
        str(offline.stats),
        str(streaming.stats),
        beam.stats.wer,
        (same, len(wavs)),
        example,
        hyp.text or "",
        seconds,
        rescored,
        wer_by_words=by_words(beam),
        wer_lm=str(with_lm.stats) if with_lm else "",
        wer_by_words_lm=by_words(with_lm) if with_lm else {},
        lm_path=lm_summary.path if lm_summary else None,
    )
