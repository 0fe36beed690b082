"""The manifests users already have, as cuts: told apart by their content, read lazily.

=====================  ==================================================================
format                 what it looks like
=====================  ==================================================================
``zipasr``             JSONL, ``{"audio": "wav/u1.wav", "text": "HELLO", "id": "u1"}``
                       (``id`` optional: the audio file's stem)
``nemo``               JSONL, ``{"audio_filepath": "a.wav", "duration": 3.2, "text": "..."}``
                       with an optional ``offset`` (seconds) into the file (NeMo's manifests)
``lhotse-cuts``        a lhotse cut manifest (``{"id": ..., "type": "MonoCut", ...}``),
                       JSONL or JSONL.gz (``.json``/``.yaml`` CutSets are read eagerly)
``lhotse-recordings``  a lhotse recordings manifest with its supervisions beside it (the
                       same name with ``recordings`` replaced by ``supervisions``); one cut per
                       supervision
``kaldi``              a Kaldi data directory (``wav.scp``, ``text``, and ``segments`` or
                       ``utt2spk``), through lhotse's importer
``folder``             a folder of ``*.wav`` files with same-named ``*.txt`` transcripts
=====================  ==================================================================

A JSONL file's format comes from the keys of its first record, not its name (NeMo manifests
are often called ``.json``); a folder's from its contents. Every later line must be of the same
format: one that is not, or is not JSON, raises ValueError naming the file, the line and the
keys expected. Relative audio paths are resolved against the manifest's folder.

The JSONL formats are read lazily (:func:`open_manifest`: one line at a time, never listed), the
others into memory. Files that cannot be read, and entries without a transcript, are skipped
into the :class:`~zipasr.data.guardrails.SkipReport` given.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lhotse import CutSet, Recording, SupervisionSegment
from lhotse.cut import Cut
from lhotse.utils import fastcopy

from zipasr.data.guardrails import Skip, SkipReason, SkipReport
from zipasr.data.sources import CutSource, JsonlSource, ListSource, json_object, open_text

log = logging.getLogger(__name__)

FORMATS = ("zipasr", "nemo", "lhotse-cuts", "lhotse-recordings", "kaldi", "folder")

_EXPECTED = (
    "a zipasr JSONL line ('audio' and 'text', optional 'id'), a NeMo line ('audio_filepath', "
    "'duration' and 'text', optional 'offset'), a lhotse cut ('type': 'MonoCut', ...) or a "
    "lhotse recording ('sources', 'sampling_rate', ...)"
)
#: Keys that people use for the audio path; named in the error to say what to rename.
_AUDIO_LIKE = (
    "path",
    "wav",
    "file",
    "filename",
    "audio_path",
    "wav_path",
    "filepath",
    "audio_file",
)


def _cut(audio: Path, text: str, cut_id: str) -> Cut:
    recording = Recording.from_file(audio, recording_id=cut_id)
    cut = recording.to_cut()
    # A multi-channel file becomes a MultiCut; the loader mixes its channels down.
    channel = recording.channel_ids[0] if recording.num_channels == 1 else recording.channel_ids
    cut.supervisions = [
        SupervisionSegment(
            id=cut_id,
            recording_id=cut_id,
            start=0.0,
            duration=recording.duration,
            channel=channel,
            text=text,
        )
    ]
    return cut


def _audio_cut(audio: Path, text: str, cut_id: str) -> Cut | Skip:
    """A whole-file cut, or the skip of a file that is missing or cannot be read."""
    if not audio.is_file():
        return Skip(cut_id, SkipReason.UNREADABLE_AUDIO, f"{audio}: no such audio file")
    try:
        return _cut(audio, text, cut_id)
    except Exception as e:  # lhotse/soundfile raise several types for a bad header
        return Skip(cut_id, SkipReason.UNREADABLE_AUDIO, f"{audio}: {e}")


def _text_of(item: dict[str, Any], path: Path, line_no: int, cut_id: str) -> str | Skip:
    if item["text"] is None or not str(item["text"]).strip():
        return Skip(cut_id, SkipReason.EMPTY_TEXT, f"{path}:{line_no}: no transcript")
    return str(item["text"])


class _ZipasrLine:
    """Parses the lines of a zipasr JSONL manifest (picklable, unlike a closure)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, item: dict[str, Any], line_no: int) -> Cut | Skip:
        if "audio" not in item or "text" not in item:
            raise ValueError(
                f"{self.path}:{line_no} has keys {sorted(item)}; each line needs 'audio' (a "
                "path) and 'text', and may have 'id' (the format of the manifest's first line)"
            )
        audio = self.path.parent / str(item["audio"])  # an absolute item["audio"] wins
        cut_id = str(item.get("id", audio.stem))
        text = _text_of(item, self.path, line_no, cut_id)
        return text if isinstance(text, Skip) else _audio_cut(audio, text, cut_id)


class _NemoLine:
    """Parses the lines of a NeMo manifest: ``audio_filepath``, ``duration``, ``text`` and an
    optional ``offset`` (the utterance is ``duration`` seconds from ``offset`` in the file)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, item: dict[str, Any], line_no: int) -> Cut | Skip:
        where = f"{self.path}:{line_no}"
        if not {"audio_filepath", "duration", "text"} <= set(item):
            raise ValueError(
                f"{where} has keys {sorted(item)}; each line of a NeMo manifest needs "
                "'audio_filepath', 'duration' and 'text', and may have 'offset' (the format of "
                "the manifest's first line)"
            )
        try:
            duration = float(item["duration"])
            offset = float(item.get("offset") or 0.0)
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}: duration={item['duration']!r}, offset={item.get('offset')!r}; both "
                "must be numbers of seconds"
            ) from None
        if not duration > 0 or offset < 0:
            raise ValueError(f"{where}: duration={duration} must be > 0 and offset={offset} >= 0")
        audio = self.path.parent / str(item["audio_filepath"])
        cut_id = str(item.get("id") or audio.stem + (f"-{offset:.2f}" if "offset" in item else ""))
        text = _text_of(item, self.path, line_no, cut_id)
        if isinstance(text, Skip):
            return text
        cut = _audio_cut(audio, text, cut_id)
        if isinstance(cut, Skip):
            return cut
        if offset == 0 and abs(duration - cut.duration) < 0.05:
            return cut  # the whole file (NeMo's durations are rounded)
        duration = min(duration, cut.duration - offset)  # a rounded duration past the end
        if duration <= 0:
            detail = f"{where}: offset={offset} s is past the end of {audio} ({cut.duration} s)"
            return Skip(cut_id, SkipReason.UNREADABLE_AUDIO, detail)
        window = cut.truncate(offset=offset, duration=duration, preserve_id=True)
        sup = fastcopy(cut.supervisions[0], start=0.0, duration=window.duration)
        return fastcopy(window, id=cut_id, supervisions=[sup])


class _LhotseCutLine:
    """Parses the lines of a lhotse cut manifest (lhotse's own deserialiser)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, item: dict[str, Any], line_no: int) -> Cut | Skip:
        from lhotse.serialization import deserialize_item

        if not str(item.get("type", "")).endswith("Cut"):
            raise ValueError(
                f"{self.path}:{line_no} has keys {sorted(item)}; each line of a lhotse cut "
                "manifest is a cut, with 'id', 'type' ('MonoCut', ...), 'start', 'duration' "
                "(the format of the manifest's first line)"
            )
        try:
            return deserialize_item(item)
        except Exception as e:  # lhotse raises TypeError/KeyError/... for a malformed cut
            raise ValueError(
                f"{self.path}:{line_no}: not a lhotse cut ({type(e).__name__}: {e}); write it "
                "with lhotse (CutSet.to_file) or use a zipasr or NeMo JSONL manifest"
            ) from None


def _first_record(path: Path) -> tuple[int, dict[str, Any]] | None:
    """The line number and object of the first non-blank line of a JSONL file, None if empty.
    ValueError (naming the file and line) when it is not a JSON object."""
    try:
        with open_text(path) as f:
            for line_no, raw in enumerate(f, start=1):
                item = json_object(path, line_no, raw)
                if item is not None:
                    return line_no, item
    except (OSError, EOFError) as e:  # a bad .gz file
        raise ValueError(
            f"{path} is not a manifest zipasr reads ({type(e).__name__}: {e}); pass a zipasr "
            "or NeMo JSONL manifest, a lhotse manifest, a Kaldi data directory or a folder of "
            "*.wav + *.txt"
        ) from None
    return None


def _format_of_record(path: Path, line_no: int, item: dict[str, Any]) -> str:
    keys = set(item)
    if "audio" in keys:
        return "zipasr"
    if "audio_filepath" in keys:
        return "nemo"
    if str(item.get("type", "")).endswith("Cut"):
        return "lhotse-cuts"
    if {"sources", "sampling_rate"} <= keys:
        return "lhotse-recordings"
    if {"recording_id", "start", "duration"} <= keys:
        raise ValueError(
            f"{path}:{line_no} is a lhotse supervision: pass the recordings manifest (with this "
            "file beside it, named like it with 'supervisions' for 'recordings') or a cut "
            "manifest (lhotse cut simple -r RECORDINGS -s SUPERVISIONS CUTS)"
        )
    hint = next((k for k in _AUDIO_LIKE if k in keys), None)
    raise ValueError(
        f"{path}:{line_no} has keys {sorted(keys)}: neither {_EXPECTED}"
        + (f"; if {hint!r} is the audio file, call it 'audio'" if hint else "")
    )


def manifest_format(source: str | Path) -> str:
    """Which of :data:`FORMATS` ``source`` is, from a folder's contents or a file's first
    record. Raises FileNotFoundError for a missing path, ValueError (naming the file, the line
    and the keys expected) for anything else unreadable."""
    source = Path(source)
    if source.is_dir():
        if (source / "wav.scp").is_file():
            return "kaldi"
        return "folder"
    if not source.is_file():
        raise FileNotFoundError(
            f"{source}: no such manifest; pass a zipasr or NeMo JSONL manifest, a lhotse "
            "manifest, a Kaldi data directory or a folder of *.wav + *.txt"
        )
    if _lhotse_document(source):
        return "lhotse-cuts"
    first = _first_record(source)
    if first is None:
        raise ValueError(f"{source} is empty: it lists no utterances")
    return _format_of_record(source, *first)


def _lhotse_document(path: Path) -> bool:
    """A whole-file (not line-by-line) lhotse manifest: YAML, or JSON that is not JSONL."""
    name = path.name
    if name.endswith((".yaml", ".yml", ".yaml.gz", ".yml.gz")):
        return True
    if not name.endswith((".json", ".json.gz")):
        return False
    try:
        with open_text(path) as f:
            head = f.read(1).lstrip()
        return head.startswith(b"[")
    except (OSError, EOFError):
        return False


def open_manifest(source: str | Path, report: SkipReport | None = None) -> CutSource:
    """A manifest of any of :data:`FORMATS` as a :class:`~zipasr.data.sources.CutSource`: the
    JSONL formats lazily (a line is parsed when the sampler reaches it, and a mid-epoch resume
    seeks to its byte offset), the others read into memory.

    Skipped utterances (missing audio, empty transcript) go to ``report`` as they are read.
    """
    source = Path(source)
    report = report if report is not None else SkipReport()
    kind = manifest_format(source)
    if kind == "zipasr":
        return JsonlSource(source, _ZipasrLine(source), report)
    if kind == "nemo":
        return JsonlSource(source, _NemoLine(source), report)
    if kind == "lhotse-cuts" and not _lhotse_document(source):
        return JsonlSource(source, _LhotseCutLine(source), report)
    if kind == "lhotse-cuts":
        return ListSource(_lhotse_file(source), str(source))
    if kind == "lhotse-recordings":
        return ListSource(_from_recordings(source), str(source))
    if kind == "kaldi":
        return ListSource(cuts_from_kaldi(source, report), str(source))
    return ListSource(cuts_from_folder(source, report), str(source))


def load_cuts(source: str | Path, report: SkipReport | None = None) -> CutSet:
    """A manifest of any of :data:`FORMATS` as an eager CutSet (a validation or test set; the
    trainer reads training manifests with :func:`open_manifest`, lazily)."""
    report = report if report is not None else SkipReport()
    cuts = CutSet.from_cuts(open_manifest(source, report))
    if report.total:
        log.warning("reading the manifest %s", report.summary())
    if len(cuts) == 0 and not report.total:
        raise ValueError(f"{source} is empty: it lists no utterances")
    return cuts


def _lhotse_file(path: Path) -> CutSet:
    try:
        cuts = CutSet.from_file(path).to_eager()
    except Exception as e:  # lhotse raises many types for a file that is not a cut manifest
        raise ValueError(
            f"{path} is not a manifest zipasr reads ({type(e).__name__}: {e}); pass a zipasr "
            "or NeMo JSONL manifest, a lhotse manifest, a Kaldi data directory or a folder of "
            "*.wav + *.txt"
        ) from None
    if not all(isinstance(c, Cut) for c in cuts):
        raise ValueError(f"{path} holds lhotse items that are not cuts; pass a cut manifest")
    return cuts


def _from_recordings(path: Path) -> CutSet:
    """One cut per supervision of a lhotse recordings manifest and its supervisions manifest."""
    from lhotse import load_manifest

    if "recordings" not in path.name:
        raise ValueError(
            f"{path} is a lhotse recordings manifest, but its name has no 'recordings' to find "
            "its supervisions by; name the pair *recordings*.jsonl(.gz) and "
            "*supervisions*.jsonl(.gz), or pass a cut manifest"
        )
    sups = path.with_name(path.name.replace("recordings", "supervisions"))
    if not sups.is_file():
        raise FileNotFoundError(
            f"{path} is a lhotse recordings manifest; its supervisions (the transcripts) should "
            f"be beside it as {sups.name}, which does not exist"
        )
    try:
        cuts = CutSet.from_manifests(
            recordings=load_manifest(path), supervisions=load_manifest(sups)
        )
    except Exception as e:  # lhotse raises many types for a malformed manifest
        raise ValueError(f"{path} + {sups.name}: not lhotse manifests ({e})") from None
    return cuts.trim_to_supervisions(keep_overlapping=False).to_eager()


def _kaldi_sampling_rate(folder: Path) -> int:
    """The sampling rate of the first plain file in ``wav.scp`` (16 kHz for a command)."""
    import soundfile

    with (folder / "wav.scp").open(encoding="utf-8") as f:
        for line in f:
            parts = line.split(maxsplit=1)
            if len(parts) == 2 and not parts[1].strip().endswith("|"):
                try:
                    return int(soundfile.info(parts[1].strip()).samplerate)
                except Exception:  # soundfile raises RuntimeError/LibsndfileError/...
                    break
    return 16000


def cuts_from_kaldi(folder: str | Path, report: SkipReport | None = None) -> CutSet:
    """A Kaldi data directory as an eager CutSet (lhotse's importer): ``wav.scp`` and ``text``,
    with ``segments`` (utterances inside recordings) or ``utt2spk`` (one per recording).
    ``reco2dur`` saves reading every file's duration. The sampling rate is read from the first
    file of ``wav.scp`` (16 kHz when it is a command)."""
    from lhotse.kaldi import load_kaldi_data_dir

    folder = Path(folder)
    for name in ("wav.scp", "text"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} has no {name}; a Kaldi data directory needs it")
    if not (folder / "segments").is_file() and not (folder / "utt2spk").is_file():
        raise FileNotFoundError(
            f"{folder} has neither segments nor utt2spk; lhotse's Kaldi importer needs one to "
            "pair transcripts with audio"
        )
    try:
        recordings, supervisions, _ = load_kaldi_data_dir(folder, _kaldi_sampling_rate(folder))
        cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    except Exception as e:  # lhotse asserts, KeyErrors on ids missing from text, ...
        raise ValueError(
            f"{folder}: cannot read it as a Kaldi data directory ({type(e).__name__}: {e})"
        ) from None
    cuts = cuts.trim_to_supervisions(keep_overlapping=False).to_eager()
    report = report if report is not None else SkipReport()
    kept = []
    for cut in cuts:
        if any((s.text or "").strip() for s in cut.supervisions):
            kept.append(cut)
        else:
            report.add(Skip(cut.id, SkipReason.EMPTY_TEXT, f"{folder}/text: no transcript"))
    return CutSet.from_cuts(kept)


def cuts_from_jsonl(path: str | Path, report: SkipReport | None = None) -> CutSet:
    """Reads a zipasr JSONL manifest (see the module docstring) into an eager CutSet.

    A line that is not a JSON object, or lacks ``audio`` or ``text``, raises ValueError naming
    the file and the line; ``"text": null`` or ``""`` is skipped as an empty transcript.
    """
    path = Path(path)
    report = report if report is not None else SkipReport()
    cuts = CutSet.from_cuts(JsonlSource(path, _ZipasrLine(path), report))
    if report.total:
        log.warning("reading the manifest %s", report.summary())
    return cuts


def _collect(entries: list[tuple[Path, str, str]], report: SkipReport) -> CutSet:
    cuts = []
    for audio, text, cut_id in entries:
        cut = _audio_cut(audio, text, cut_id)
        if isinstance(cut, Skip):
            report.add(cut)
        else:
            cuts.append(cut)
    return CutSet.from_cuts(cuts)


def cuts_from_folder(folder: str | Path, report: SkipReport | None = None) -> CutSet:
    """Reads ``folder/*.wav`` with transcripts from ``folder/<stem>.txt`` into an eager CutSet.

    A WAV without its ``.txt`` is skipped as an empty transcript.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"folder={folder} is not a directory of *.wav + *.txt files")
    report = report if report is not None else SkipReport()
    entries = []
    for wav in sorted(folder.glob("*.wav")):
        txt = wav.with_suffix(".txt")
        if not txt.is_file():
            report.add(Skip(wav.stem, SkipReason.EMPTY_TEXT, f"no transcript file {txt.name}"))
            continue
        try:
            text = txt.read_text(encoding="utf-8-sig").strip()
        except UnicodeDecodeError:
            report.add(Skip(wav.stem, SkipReason.EMPTY_TEXT, f"{txt.name} is not UTF-8 text"))
            continue
        if not text:
            report.add(Skip(wav.stem, SkipReason.EMPTY_TEXT, f"{txt.name} is empty"))
            continue
        entries.append((wav, text, wav.stem))
    return _collect(entries, report)


def audio_cuts(source: str | Path) -> CutSet:
    """Audio without transcripts (noise for mixing, room impulse responses) as an eager CutSet
    of whole files: one audio file, a folder of ``*.wav``/``*.flac`` files, a JSONL manifest
    whose lines have ``audio`` or ``audio_filepath`` (``text`` not needed), or a lhotse cut or
    recordings manifest. A file that cannot be read raises ValueError naming it."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".wav", ".flac"))
        if not files:
            raise ValueError(f"{source} holds no *.wav or *.flac file")
    elif not source.is_file():
        raise FileNotFoundError(f"{source}: no such audio manifest or folder")
    elif source.suffix.lower() in (".wav", ".flac"):
        files = [source]
    elif _lhotse_document(source):
        return _lhotse_file(source)
    else:
        first = _first_record(source)
        if first is None:
            raise ValueError(f"{source} is empty: it lists no audio")
        if "sources" in first[1] or str(first[1].get("type", "")).endswith("Cut"):
            from lhotse import load_manifest

            manifest = load_manifest(source)
            return manifest if isinstance(manifest, CutSet) else CutSet.from_manifests(manifest)
        files = []
        with open_text(source) as f:
            for line_no, raw in enumerate(f, start=1):
                item = json_object(source, line_no, raw)
                if item is None:
                    continue
                key = "audio" if "audio" in item else "audio_filepath"
                if key not in item:
                    raise ValueError(
                        f"{source}:{line_no} has keys {sorted(item)}; each line of an audio "
                        "manifest needs 'audio' (or NeMo's 'audio_filepath')"
                    )
                files.append(source.parent / str(item[key]))
    cuts = []
    for path in files:
        try:
            cuts.append(Recording.from_file(path).to_cut())
        except Exception as e:  # soundfile/lhotse raise several types for a bad file
            raise ValueError(f"{path}: cannot read this audio file ({e})") from None
    return CutSet.from_cuts(cuts)


def manifest_texts(source: str | Path) -> Iterator[str]:
    """The transcripts of a manifest of any of :data:`FORMATS`, one per utterance, read line
    by line from the JSONL formats without opening any audio (for training a tokenizer on a
    corpus too large to list)."""
    source = Path(source)
    kind = manifest_format(source)
    if kind in ("zipasr", "nemo") or (kind == "lhotse-cuts" and not _lhotse_document(source)):
        parse = None if kind == "lhotse-cuts" else (_ZipasrLine if kind == "zipasr" else _NemoLine)
        with open_text(source) as f:
            for line_no, raw in enumerate(f, start=1):
                item = json_object(source, line_no, raw)
                if item is None:
                    continue
                if parse is None:
                    yield " ".join(s.get("text") or "" for s in item.get("supervisions", []))
                elif "text" in item:
                    yield str(item["text"] or "")
                else:
                    parse(source)(item, line_no)  # type: ignore[operator]  # raises the error
        return
    for cut in open_manifest(source):
        yield " ".join(s.text or "" for s in cut.supervisions)


def cuts_to_jsonl(cuts: CutSet, path: str | Path) -> Path:
    """Writes whole-file, single-supervision cuts as a plain JSONL manifest (audio paths relative
    to ``path``'s folder) and returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for cut in cuts:
            sources = cut.recording.sources if cut.has_recording else []
            if len(sources) != 1 or sources[0].type != "file" or len(cut.supervisions) != 1:
                raise ValueError(
                    f"cut {cut.id} is not one whole audio file with one transcript; plain JSONL "
                    "holds only those (keep this CutSet as a lhotse manifest instead)"
                )
            audio = os.path.relpath(Path(sources[0].source).resolve(), path.parent.resolve())
            text = cut.supervisions[0].text or ""
            f.write(json.dumps({"id": cut.id, "audio": audio, "text": text}) + "\n")
    return path


def folder_to_jsonl(folder: str | Path, path: str | Path) -> Path:
    """Converts a ``*.wav`` + ``*.txt`` folder into a plain JSONL manifest at ``path``."""
    return cuts_to_jsonl(cuts_from_folder(folder), path)
