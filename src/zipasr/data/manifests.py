"""The three input kinds, as lhotse CutSets: a lhotse cut manifest, a plain JSONL manifest, and a
folder of ``*.wav`` files with same-named ``*.txt`` transcripts.

Plain JSONL, one object per line::

    {"audio": "wav/utt1.wav", "text": "HELLO WORLD", "id": "utt1"}

``audio`` paths that are relative are resolved against the manifest's folder; ``id`` defaults to
the audio file's stem. Each utterance is one whole file. Files that cannot be read, or entries
without a transcript, are skipped into the :class:`~zipasr.data.guardrails.SkipReport` given.
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

from zipasr.data.guardrails import Skip, SkipReason, SkipReport

log = logging.getLogger(__name__)


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


def _collect(entries: list[tuple[Path, str, str]], report: SkipReport | None) -> CutSet:
    report = report if report is not None else SkipReport()
    cuts = []
    for audio, text, cut_id in entries:
        if not audio.is_file():
            report.add(Skip(cut_id, SkipReason.UNREADABLE_AUDIO, f"{audio}: no such audio file"))
            continue
        try:
            cuts.append(_cut(audio, text, cut_id))
        except Exception as e:  # lhotse/soundfile raise several types for a bad header
            report.add(Skip(cut_id, SkipReason.UNREADABLE_AUDIO, f"{audio}: {e}"))
    if report.total:
        log.warning("reading the manifest %s", report.summary())
    return CutSet.from_cuts(cuts)


def cuts_from_jsonl(path: str | Path, report: SkipReport | None = None) -> CutSet:
    """Reads a plain JSONL manifest (see the module docstring) into an eager CutSet.

    A line that is not a JSON object, or lacks ``audio`` or ``text``, raises ValueError naming
    the file and the line; ``"text": null`` or ``""`` is skipped as an empty transcript.
    """
    path = Path(path)
    report = report if report is not None else SkipReport()
    entries = []
    for line_no, item in _json_lines(path):
        if "audio" not in item or "text" not in item:
            raise ValueError(
                f"{path}:{line_no} has keys {sorted(item)}; each line needs 'audio' (a path) "
                "and 'text', and may have 'id'"
            )
        audio = path.parent / str(item["audio"])  # an absolute item["audio"] wins
        cut_id = str(item.get("id", audio.stem))
        if item["text"] is None or not str(item["text"]).strip():
            report.add(Skip(cut_id, SkipReason.EMPTY_TEXT, f"{path}:{line_no}: no transcript"))
            continue
        entries.append((audio, str(item["text"]), cut_id))
    return _collect(entries, report)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 text file (a leading BOM is dropped); a line that is not
    UTF-8 is named."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{path}:{number}: not UTF-8 text ({e.reason} at column {e.start + 1}); "
                    "save the manifest as UTF-8"
                ) from None
            yield number, line


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSONL file (a UTF-8 BOM is fine)."""
    for line_no, line in _lines(path):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{path}:{line_no}: not valid JSON ({e.msg} at column {e.colno}); a JSONL "
                "manifest holds one JSON object per line"
            ) from None
        if not isinstance(item, dict):
            raise ValueError(
                f"{path}:{line_no}: a JSON {type(item).__name__}, not an object; each line "
                'must be an object such as {"audio": "a.wav", "text": "..."}'
            )
        yield line_no, item


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


def load_cuts(source: str | Path, report: SkipReport | None = None) -> CutSet:
    """Any of the three input kinds as a CutSet: a folder, a plain JSONL manifest (lines with an
    ``audio`` key), or a lhotse cut manifest (``.jsonl``, ``.jsonl.gz``, ...)."""
    source = Path(source)
    if source.is_dir():
        return cuts_from_folder(source, report)
    if not source.is_file():
        raise FileNotFoundError(
            f"{source}: no such manifest; pass a folder of *.wav + *.txt, a JSONL manifest "
            "or a lhotse CutSet manifest"
        )
    first = next(_json_lines(source), None) if source.suffix == ".jsonl" else None
    if source.suffix == ".jsonl":
        if first is None:
            raise ValueError(f"{source} is empty: it lists no utterances")
        if "audio" in first[1]:
            return cuts_from_jsonl(source, report)
        if not str(first[1].get("type", "")).endswith("Cut"):
            raise ValueError(
                f"{source}:{first[0]} has keys {sorted(first[1])}: neither a zipasr JSONL line "
                "(needs 'audio' and 'text', may have 'id') nor a lhotse cut (has 'type': "
                "'MonoCut')"
            )
    try:
        cuts = CutSet.from_file(source)
    except Exception as e:  # lhotse raises many types for a file that is not a cut manifest
        raise ValueError(
            f"{source} is not a manifest zipasr reads ({type(e).__name__}: {e}); pass a folder "
            "of *.wav + *.txt, a JSONL manifest or a lhotse CutSet manifest"
        ) from None
    if cuts is None or len(cuts := cuts.to_eager()) == 0:
        raise ValueError(f"{source} is empty: it lists no utterances")
    return cuts
