"""The manifests users already have: each format read, told apart by content, and bad ones
named by file, line and the keys expected."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet

from zipasr.data import (
    SkipReport,
    audio_cuts,
    load_cuts,
    manifest_format,
    manifest_texts,
    open_manifest,
)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> Path:
    """Three 16 kHz tones of 1.0, 1.5 and 2.0 s in a folder."""
    folder = tmp_path_factory.mktemp("wavs")
    for i, seconds in enumerate((1.0, 1.5, 2.0)):
        t = np.arange(int(16000 * seconds)) / 16000
        sf.write(folder / f"u{i}.wav", 0.1 * np.sin(2 * np.pi * 440 * t), 16000)
    return folder


def _jsonl(path: Path, *items: dict) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as f:  # type: ignore[operator]
        for item in items:
            f.write(json.dumps(item) + "\n")
    return path


def _ids_texts(cuts) -> list[tuple[str, str, float]]:
    return [(c.id, c.supervisions[0].text, round(c.duration, 2)) for c in cuts]


def test_zipasr_jsonl(wavs) -> None:
    path = _jsonl(
        wavs / "ours.jsonl",
        {"audio": "u0.wav", "text": "A"},
        {"audio": "u1.wav", "text": "B", "id": "x"},
    )
    assert manifest_format(path) == "zipasr"
    assert _ids_texts(load_cuts(path)) == [("u0", "A", 1.0), ("x", "B", 1.5)]


def test_nemo_jsonl_with_offsets_and_a_json_name(wavs) -> None:
    path = _jsonl(
        wavs / "nemo_manifest.json",  # NeMo calls its JSONL manifests .json
        {"audio_filepath": str(wavs / "u2.wav"), "duration": 2.0, "text": "WHOLE"},
        {"audio_filepath": "u2.wav", "duration": 0.5, "offset": 1.25, "text": "PART"},
        {"audio_filepath": "u1.wav", "duration": 1.52, "text": "ROUNDED"},
    )
    assert manifest_format(path) == "nemo"
    cuts = load_cuts(path)
    assert _ids_texts(cuts) == [
        ("u2", "WHOLE", 2.0),
        ("u2-1.25", "PART", 0.5),
        ("u1", "ROUNDED", 1.5),
    ]
    part = cuts[1]
    audio = part.load_audio()
    whole = cuts[0].load_audio()
    assert audio.shape == (1, 8000)
    assert np.allclose(audio, whole[:, 20000:28000])  # the window at 1.25 s
    sup = part.supervisions[0]
    assert (sup.start, sup.duration) == (0.0, 0.5)


def test_lhotse_cut_manifests_plain_and_gzipped(wavs) -> None:
    ours = load_cuts(_jsonl(wavs / "ours2.jsonl", {"audio": "u0.wav", "text": "A"}))
    for name in ("cuts.jsonl", "cuts.jsonl.gz", "cuts.json"):
        ours.to_file(wavs / name)
        assert manifest_format(wavs / name) == "lhotse-cuts"
        assert _ids_texts(load_cuts(wavs / name)) == [("u0", "A", 1.0)]


def test_lhotse_recordings_with_their_supervisions(wavs, tmp_path) -> None:
    cuts = load_cuts(
        _jsonl(
            wavs / "ours3.jsonl", {"audio": "u0.wav", "text": "A"}, {"audio": "u2.wav", "text": "B"}
        )
    )
    cuts.decompose(output_dir=tmp_path)  # writes recordings.jsonl.gz and supervisions.jsonl.gz
    recordings = tmp_path / "recordings.jsonl.gz"
    assert manifest_format(recordings) == "lhotse-recordings"
    assert sorted(_ids_texts(load_cuts(recordings))) == [("u0", "A", 1.0), ("u2", "B", 2.0)]
    with pytest.raises(ValueError, match=r"supervisions.jsonl.gz:1 is a lhotse supervision: pass"):
        load_cuts(tmp_path / "supervisions.jsonl.gz")
    (tmp_path / "supervisions.jsonl.gz").unlink()
    with pytest.raises(FileNotFoundError, match="beside it as supervisions.jsonl.gz"):
        load_cuts(recordings)


def _kaldi(folder: Path, wavs: Path, *, segments: bool) -> Path:
    folder.mkdir()
    (folder / "wav.scp").write_text("".join(f"r{i} {wavs / f'u{i}.wav'}\n" for i in range(3)))
    if segments:
        (folder / "segments").write_text("s0 r2 0.0 0.5\ns1 r2 0.5 2.0\ns2 r0 0 -1\n")
        (folder / "text").write_text("s0 ONE\ns1 TWO WORDS\ns2 THREE\n")
    else:
        (folder / "utt2spk").write_text("r0 spk\nr1 spk\nr2 spk\n")
        (folder / "text").write_text("r0 ONE\nr1 TWO\nr2 THREE\n")
        (folder / "reco2dur").write_text("r0 1.0\nr1 1.5\nr2 2.0\n")
    return folder


def test_kaldi_data_directories(wavs, tmp_path) -> None:
    plain = _kaldi(tmp_path / "plain", wavs, segments=False)
    assert manifest_format(plain) == "kaldi"
    assert _ids_texts(load_cuts(plain)) == [
        ("r0", "ONE", 1.0),
        ("r1", "TWO", 1.5),
        ("r2", "THREE", 2.0),
    ]
    seg = _kaldi(tmp_path / "seg", wavs, segments=True)
    got = sorted(_ids_texts(load_cuts(seg)))
    assert got == [("s0", "ONE", 0.5), ("s1", "TWO WORDS", 1.5), ("s2", "THREE", 1.0)]
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "wav.scp").write_text(f"r0 {wavs / 'u0.wav'}\n")
    with pytest.raises(FileNotFoundError, match="bare has no text"):
        load_cuts(tmp_path / "bare")


def test_a_folder_of_wav_and_txt(wavs, tmp_path) -> None:
    (tmp_path / "a.wav").write_bytes((wavs / "u0.wav").read_bytes())
    (tmp_path / "a.txt").write_text("HELLO\n")
    assert manifest_format(tmp_path) == "folder"
    assert _ids_texts(load_cuts(tmp_path)) == [("a", "HELLO", 1.0)]


def test_transcripts_stream_without_opening_audio(tmp_path) -> None:
    # The audio does not exist: texts come from the lines alone (tokenizer training).
    ours = _jsonl(
        tmp_path / "a.jsonl",
        {"audio": "missing.wav", "text": "ONE"},
        {"audio": "m.wav", "text": "TWO"},
    )
    nemo = _jsonl(tmp_path / "n.json", {"audio_filepath": "m.wav", "duration": 1, "text": "THREE"})
    assert list(manifest_texts(ours)) + list(manifest_texts(nemo)) == ["ONE", "TWO", "THREE"]


# --- bad manifests ---------------------------------------------------------------------------


def test_a_path_key_is_named_with_the_keys_expected(wavs, tmp_path) -> None:
    """A new user's first try: 'path' instead of 'audio' (lhotse used to die with a TypeError)."""
    for name in ("m.jsonl", "m.json", "m.jsonl.gz"):
        path = _jsonl(tmp_path / name, {"path": "u0.wav", "text": "hi"})
        with pytest.raises(ValueError) as error:
            load_cuts(path)
        message = str(error.value)
        assert message.startswith(f"{path}:1 has keys ['path', 'text']: neither")
        assert "'audio' and 'text'" in message and "'audio_filepath', 'duration'" in message
        assert "if 'path' is the audio file, call it 'audio'" in message


def test_a_later_line_of_another_format_is_named(wavs, tmp_path) -> None:
    path = _jsonl(
        tmp_path / "m.jsonl",
        {"audio": str(wavs / "u0.wav"), "text": "hi"},
        {"audio_filepath": str(wavs / "u1.wav"), "duration": 1.5, "text": "hi"},
    )
    with pytest.raises(
        ValueError,
        match=r"m.jsonl:2 has keys \['audio_filepath', 'duration', 'text'\]; each line needs",
    ):
        load_cuts(path)
    nemo = _jsonl(
        tmp_path / "n.json",
        {"audio_filepath": str(wavs / "u1.wav"), "duration": 1.5, "text": "hi"},
        {"audio_filepath": str(wavs / "u1.wav"), "text": "no duration"},
    )
    with pytest.raises(
        ValueError,
        match=r"n.json:2 has keys \['audio_filepath', 'text'\]; each line of a NeMo manifest "
        r"needs 'audio_filepath', 'duration'",
    ):
        load_cuts(nemo)
    bad_number = _jsonl(
        tmp_path / "d.json", {"audio_filepath": "u1.wav", "duration": "long", "text": "x"}
    )
    with pytest.raises(ValueError, match=r"d.json:1: duration='long'"):
        load_cuts(bad_number)


def test_a_malformed_lhotse_cut_is_named(wavs, tmp_path) -> None:
    good = next(
        iter(load_cuts(_jsonl(tmp_path / "g.jsonl", {"audio": str(wavs / "u0.wav"), "text": "A"})))
    ).to_dict()
    bad = dict(good, id="broken", recording={"id": "r", "sources": "nope"})
    path = _jsonl(tmp_path / "cuts.jsonl.gz", good, bad)
    with pytest.raises(ValueError, match=r"cuts.jsonl.gz:2: not a lhotse cut \("):
        load_cuts(path)


def test_a_corrupt_gzip_is_named(tmp_path) -> None:
    (tmp_path / "m.jsonl.gz").write_bytes(b"definitely not gzip")
    with pytest.raises(ValueError, match="m.jsonl.gz is not a manifest zipasr reads"):
        load_cuts(tmp_path / "m.jsonl.gz")
    lines = "".join(json.dumps({"audio": "a.wav", "text": "x" * 50}) + "\n" for _ in range(2000))
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(lines.encode())[:-200])  # truncated
    with pytest.raises(ValueError, match=r"cut.jsonl.gz:\d+: cannot read the file"):
        list(open_manifest(tmp_path / "cut.jsonl.gz"))


def test_missing_audio_is_skipped_once_per_line_however_often_it_is_read(wavs, tmp_path) -> None:
    path = _jsonl(
        tmp_path / "m.jsonl",
        {"audio": str(wavs / "u0.wav"), "text": "A"},
        {"audio": "gone.wav", "text": "B"},
    )
    report = SkipReport()
    source = open_manifest(path, report)
    for _ in range(3):  # three epochs
        assert [c.id for c in source] == ["u0"]
    assert report.total == 1 and report.examples[0].cut_id == "gone"


def test_noise_and_rir_audio_needs_no_transcript(wavs, tmp_path) -> None:
    assert len(audio_cuts(wavs)) == 3
    listed = _jsonl(
        tmp_path / "noise.jsonl",
        {"audio": str(wavs / "u0.wav")},
        {"audio_filepath": str(wavs / "u1.wav")},
    )
    assert [round(c.duration, 2) for c in audio_cuts(listed)] == [1.0, 1.5]
    CutSet.from_cuts(audio_cuts(listed)).to_file(tmp_path / "noise_cuts.jsonl.gz")
    assert len(audio_cuts(tmp_path / "noise_cuts.jsonl.gz")) == 2
    with pytest.raises(
        ValueError, match=r"bad.jsonl:1 has keys \['path'\]; each line of an audio manifest"
    ):
        audio_cuts(_jsonl(tmp_path / "bad.jsonl", {"path": "x.wav"}))


def test_zipasr_decode_names_the_line_of_a_path_manifest_and_reads_nemo(
    capsys, wavs, tmp_path
) -> None:
    """The CLI path of the report: one error line, no traceback; NeMo manifests decode."""
    import zipasr
    from zipasr.cli.main import main
    from zipasr.testing import tiny_recognizer

    tokens = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581w{i}" for i in range(27)]
    model_dir = zipasr.save(tiny_recognizer(tokens), tmp_path / "model")
    bad = _jsonl(tmp_path / "m.jsonl", {"path": str(wavs / "u0.wav"), "text": "hi"})
    code = main(["decode", str(model_dir), str(bad), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith(f"zipasr: error: {bad}:1 has keys ['path', 'text']: neither")
    nemo = _jsonl(
        tmp_path / "n.json", {"audio_filepath": str(wavs / "u1.wav"), "duration": 1.5, "text": "W1"}
    )
    assert main(["decode", str(model_dir), str(nemo), "--out", str(tmp_path / "out")]) == 0
    assert "u1:\tref=" in (tmp_path / "out" / "recogs.txt").read_text()
