"""The bad-input suite: what zipasr does with each input a hostile user hands it.

Each test states the expected behaviour of one row of the table in docs/troubleshooting.md
("What zipasr does with bad input"). No case may end in a Python traceback at the CLI.
"""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import zipasr
from zipasr.audio import AudioError, check_samples, read_audio
from zipasr.cli.errors import EXIT_ERROR, EXIT_INTERNAL, EXIT_USAGE
from zipasr.cli.main import main
from zipasr.data import SkipReport, load_cuts
from zipasr.streaming import StreamingConfig, StreamingRecognizer
from zipasr.testing import tiny_recognizer
from zipasr.weights import CorruptFileError

VOCAB = 30
TOKENS = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581w{i}" for i in range(VOCAB - 3)]


def tone(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 300 * t) + 0.05 * rng.standard_normal(t.shape)).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def model() -> zipasr.AsrModel:
    return tiny_recognizer(TOKENS)


@pytest.fixture(scope="module")
def model_dir(model, tmp_path_factory) -> Path:
    return zipasr.save(model, tmp_path_factory.mktemp("model") / "model")


@pytest.fixture
def good_wav(tmp_path) -> Path:
    soundfile.write(tmp_path / "good.wav", tone(1.2), 16000)
    return tmp_path / "good.wav"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


# --- the CLI's error path -----------------------------------------------------------------------


def test_a_missing_model_is_one_error_line_exit_1(capsys, good_wav, tmp_path) -> None:
    code, _, err = run_cli(capsys, "transcribe", str(tmp_path / "nope"), str(good_wav))
    assert code == EXIT_ERROR
    assert err.strip() == f"zipasr: error: {tmp_path / 'nope'}: no such model directory or " + (
        "checkpoint file"
    )


def test_debug_shows_the_traceback(capsys, good_wav, tmp_path, monkeypatch) -> None:
    assert main(["--debug", "transcribe", str(tmp_path / "nope"), str(good_wav)]) == EXIT_ERROR
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("ZIPASR_DEBUG", "1")
    assert main(["transcribe", str(tmp_path / "nope"), str(good_wav)]) == EXIT_ERROR
    assert "Traceback" in capsys.readouterr().err


def test_debug_works_after_the_command_too(capsys, good_wav, tmp_path) -> None:
    assert main(["transcribe", str(tmp_path / "nope"), str(good_wav), "--debug"]) == EXIT_ERROR
    assert "Traceback" in capsys.readouterr().err


def test_a_worker_process_error_is_shown_as_its_own_line() -> None:
    from zipasr.cli.errors import report

    class ProcessRaisedException(Exception):  # the shape of torch.multiprocessing's
        pass

    text = "\n\n-- Process 1 terminated with the following error:\nTraceback (most recent ...)\n"
    worker = ProcessRaisedException(text + "ValueError: no usable utterance in train.jsonl\n")
    assert report(worker, debug=False) == EXIT_ERROR
    assert report(ProcessRaisedException(text + "IndexError: oops"), debug=False) == EXIT_INTERNAL


def test_an_unexpected_exception_is_reported_as_a_bug(capsys, monkeypatch, good_wav) -> None:
    import zipasr.cli.transcribe as command

    def broken(args):
        raise IndexError("list index out of range")

    monkeypatch.setattr(command, "run_transcribe", broken)
    code, _, err = run_cli(capsys, "transcribe", "m", str(good_wav))
    assert code == EXIT_INTERNAL
    assert "internal error (IndexError: list index out of range)" in err and "--debug" in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--batch-size", "0", "argument --batch-size: must be at least 1, got 0"),
        ("--beam", "-1", "argument --beam: must be at least 1, got -1"),
        ("--chunk", "x", "argument --chunk: expected a whole number, got 'x'"),
    ],
)
def test_bad_options_are_usage_errors_before_any_work(capsys, option, value, message) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["transcribe", "no-model", "no.wav", option, value])
    assert stop.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "--threads", "0"],
        ["info", "--seconds", "-1"],
        ["synth", "--out", "x", "--hours", "0"],
        ["synth", "--out", "x", "--seed", "-5"],
        ["synth", "--out", "x", "--neural-share", "1.5"],
        ["synth", "--out", "x", "--fractions", "0.5", "0", "0.5"],
        ["transcribe", "m", "a.wav", "--max-segment", "-1"],
        ["transcribe", "m", "a.wav", "--threads", "0"],
        ["transcribe", "m", "a.wav", "--method", "nope"],
        ["transcribe", "m", "a.wav", "--attention-scale", "-3"],
        ["export", "m", "--out", "x", "--int8-margin", "-1"],
    ],
)
def test_out_of_range_options_are_one_usage_line(capsys, argv) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("zipasr: error: argument ") and err.count("\n") == 1, err
    assert err.rstrip().endswith("--help)")


@pytest.mark.parametrize("command", [["synth", "--out", "x"], ["demo"], ["transcribe", "m", "a"]])
def test_an_unknown_option_points_to_its_commands_help(capsys, command) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*command, "--bogus", "3"])
    err = capsys.readouterr().err
    assert stop.value.code == EXIT_USAGE
    assert (
        err
        == f"zipasr: error: unrecognized arguments: --bogus 3 (see: zipasr {command[0]} --help)\n"
    )


def test_split_shares_that_do_not_sum_to_one_are_a_usage_error(capsys, tmp_path) -> None:
    out = tmp_path / "corpus"
    code = main(["synth", "--out", str(out), "--fractions", "0.5", "0.5", "0.5"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and not out.exists()
    assert err == (
        "zipasr: error: argument --fractions: 0.5 0.5 0.5 must sum to 1 "
        "(see: zipasr synth --help)\n"
    )


def test_srt_and_vtt_to_the_same_file_are_refused(capsys, good_wav, tmp_path) -> None:
    out = str(tmp_path / "subs.txt")
    code, _, err = run_cli(capsys, "transcribe", "m", str(good_wav), "--srt", out, "--vtt", out)
    assert code == EXIT_ERROR and f"--srt and --vtt both write {out}" in err


def test_info_refuses_a_length_that_would_exhaust_memory(capsys) -> None:
    code, _, err = run_cli(capsys, "info", "--seconds", "1e9")
    assert code == EXIT_ERROR and "--seconds 1e+09: time at most 600 s" in err


def test_json_output_has_a_record_for_a_failed_file(capsys, model_dir, good_wav, tmp_path) -> None:
    missing = tmp_path / "missing.wav"
    code, out, _ = run_cli(
        capsys, "transcribe", str(model_dir), str(good_wav), str(missing), "--json"
    )
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 4 and [r["path"] for r in records] == [str(good_wav), str(missing)]
    assert records[1]["error"] == f"{missing}: no such audio file"


def test_decode_options_reject_nonsense() -> None:
    from zipasr.recognize import DecodeOptions

    with pytest.raises(ValueError, match="batch_size=0 must be at least 1"):
        DecodeOptions(batch_size=0)
    with pytest.raises(ValueError, match="chunk_frames=0 must be at least 1"):
        DecodeOptions(chunk_frames=0)


# --- audio files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such audio file"),
        (lambda p: p.mkdir(), "is a directory, not an audio file"),
        (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
        (lambda p: p.write_bytes(b"not audio at all" * 10), "cannot read it as audio"),
        (lambda p: soundfile.write(p, np.zeros(0, np.float32), 16000), "holds 0 samples"),
    ],
    ids=["missing", "directory", "zero-bytes", "garbage", "no-samples"],
)
def test_unreadable_audio_files_are_named(tmp_path, make, message) -> None:
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match="bad.wav") as error:
        read_audio(path)
    assert message in str(error.value)


def test_nan_and_inf_audio_is_rejected_with_the_file_name(tmp_path) -> None:
    samples = tone(1.0)
    samples[100], samples[200] = np.nan, np.inf
    soundfile.write(tmp_path / "nan.wav", samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav: 2 of 16000 samples are NaN or Inf"):
        read_audio(tmp_path / "nan.wav")


def test_integer_pcm_is_scaled_and_ambiguous_integers_rejected() -> None:
    floats = tone(0.1)
    pcm16 = np.round(floats * 32768).astype(np.int16)
    assert np.allclose(check_samples(pcm16), floats, atol=1 / 32768)
    pcm32 = (floats.astype(np.float64) * 2**31).astype(np.int32)
    assert np.allclose(check_samples(pcm32), floats, atol=1e-6)
    with pytest.raises(AudioError, match="int64 are ambiguous; pass float32 samples"):
        check_samples(pcm16.astype(np.int64))


def test_samples_far_out_of_range_are_warned_about(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        check_samples(tone(0.1) * 30000, where="loud.wav")
    assert "loud.wav: samples reach" in caplog.text and "divide it by 32768" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_samples(tone(0.1) * 1.2)  # codec overshoot: fine
    assert not caplog.text


def test_the_cli_shows_warnings_as_zipasr_warning_lines(capsys, model_dir, tmp_path) -> None:
    soundfile.write(tmp_path / "loud.wav", tone(1.0) * 30000, 16000, subtype="FLOAT")
    code, out, err = run_cli(capsys, "transcribe", str(model_dir), str(tmp_path / "loud.wav"))
    assert code == 0 and out.startswith(str(tmp_path / "loud.wav"))
    assert err.startswith(f"zipasr: warning: {tmp_path / 'loud.wav'}: samples reach ")


# --- streaming -----------------------------------------------------------------------------------


def test_a_bad_piece_is_rejected_and_the_stream_goes_on(model) -> None:
    recognizer = StreamingRecognizer(model, StreamingConfig(chunk_frames=16))
    clean, broken = recognizer.create_stream(), recognizer.create_stream()
    audio = tone(1.5)
    nan_piece = audio[:1600].copy()
    nan_piece[5] = np.nan
    for start in range(0, len(audio), 1600):
        piece = audio[start : start + 1600]
        clean.accept_waveform(piece)
        if start == 8000:
            with pytest.raises(AudioError, match="stream: 1 of 1600 samples are NaN"):
                broken.accept_waveform(nan_piece)
        broken.accept_waveform(piece)
    for stream in (clean, broken):
        stream.input_finished()
        while recognizer.step([stream]):
            pass
    assert broken.feature_frames == clean.feature_frames
    assert broken.result.tokens == clean.result.tokens and clean.result.tokens


def test_int16_pieces_give_the_same_result_as_floats(model) -> None:
    recognizer = StreamingRecognizer(model, StreamingConfig(chunk_frames=16))
    audio = tone(1.0, seed=3)
    results = []
    for samples in (audio, np.round(audio * 32768).astype(np.int16)):
        stream = recognizer.create_stream()
        stream.accept_waveform(samples)
        stream.input_finished()
        while recognizer.step([stream]):
            pass
        results.append(stream.result.tokens)
    assert results[0] == results[1] and results[0]


def test_out_of_range_pieces_warn_once_per_stream(model, caplog) -> None:
    stream = StreamingRecognizer(model).create_stream()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            stream.accept_waveform(tone(0.1) * 30000)
    assert caplog.text.count("samples reach") == 1


# --- models --------------------------------------------------------------------------------------


def copy_model(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    target.mkdir()
    for f in model_dir.iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    return target


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda d: (d / "model.pt").write_bytes(b""), CorruptFileError, "model.pt is empty"),
        (
            lambda d: (d / "model.pt").write_bytes((d / "model.pt").read_bytes()[:5000]),
            CorruptFileError,
            "model.pt is corrupt or truncated",
        ),
        (
            lambda d: (d / "model.pt").write_bytes(pickle.dumps(object())),
            CorruptFileError,
            "model.pt is not a torch file",
        ),
        (
            lambda d: (d / "model.pt").write_text("<html>404 Not Found</html>\n"),
            CorruptFileError,
            "model.pt is not a torch file",
        ),
        (
            lambda d: (d / "model.pt").write_bytes(bytes((d / "model.pt").stat().st_size)),
            CorruptFileError,
            "model.pt is not a torch file",
        ),
        (
            lambda d: (d / "model.pt").write_text(
                "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n"
            ),
            CorruptFileError,
            "model.pt is a Git LFS pointer, not the weight file itself: run `git lfs pull`",
        ),
        (
            lambda d: (d / "model.pt").write_bytes(
                (d / "model.pt").read_bytes()[:4] + bytes(range(256)) * 40
            ),
            CorruptFileError,
            "model.pt is corrupt or truncated",
        ),
        (
            lambda d: (d / "config.json").write_text("{ not json"),
            ValueError,
            "config.json is corrupt",
        ),
        (lambda d: (d / "config.json").unlink(), FileNotFoundError, "no config.json"),
        (lambda d: (d / "model.pt").unlink(), FileNotFoundError, "model.pt: no such weight file"),
    ],
    ids=[
        "empty",
        "truncated",
        "raw-pickle",
        "html",
        "zero-filled",
        "lfs-pointer",
        "garbage-zip",
        "bad-config",
        "no-config",
        "no-weights",
    ],
)
def test_a_damaged_model_directory_is_reported_as_damaged(
    model_dir, tmp_path, damage, error, message
) -> None:
    target = copy_model(model_dir, tmp_path)
    damage(target)
    with pytest.raises(error, match=message) as raised:
        zipasr.load(target)
    assert "weights_only=False" not in str(raised.value)


def test_weights_that_would_run_code_are_refused_without_suggesting_an_unsafe_load(
    model_dir, tmp_path
) -> None:
    target = copy_model(model_dir, tmp_path)
    state = torch.load(target / "model.pt", weights_only=True)
    state["extra"] = Path("/etc")  # an arbitrary object: unpickling it runs code
    torch.save(state, target / "model.pt")
    with pytest.raises(ValueError, match="unpickling them could run code") as raised:
        zipasr.load(target)
    assert "weights_only=False" not in str(raised.value)


def test_nan_weights_are_an_error_not_empty_text(model, tmp_path) -> None:
    broken = zipasr.AsrModel(model.config, tokens=TOKENS)
    broken.load_state_dict(model.state_dict())
    with torch.no_grad():
        broken.encoder.embed.conv1.weight[0, 0, 0, 0] = float("nan")
    zipasr.save(broken, tmp_path / "broken")
    with pytest.raises(
        ValueError, match="weights hold NaN or Inf values .in encoder.embed.conv1.weight"
    ):
        zipasr.load(tmp_path / "broken")


@pytest.mark.parametrize("size", [VOCAB - 5, VOCAB + 5])
def test_a_token_table_of_the_wrong_size_is_refused(model_dir, tmp_path, size, capsys) -> None:
    table = tmp_path / "tokens.txt"
    table.write_text("".join(f"t{i} {i}\n" for i in range(size)))
    with pytest.raises(ValueError, match=f"has {size} tokens but the model has {VOCAB} outputs"):
        zipasr.load(model_dir, tokens=table)
    code, _, err = run_cli(capsys, "transcribe", str(model_dir), "x.wav", "--tokens", str(table))
    assert code == EXIT_ERROR and f"has {size} tokens" in err


# --- manifests -----------------------------------------------------------------------------------


@pytest.fixture
def manifest_dir(tmp_path, good_wav) -> Path:
    return good_wav.parent


def write_lines(path: Path, *lines: str, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "".join(f"{x}\n" for x in lines).encode())
    return path


def test_a_line_that_is_not_json_is_named_by_file_and_line(manifest_dir) -> None:
    good = json.dumps({"audio": "good.wav", "text": "hi"})
    path = write_lines(manifest_dir / "m.jsonl", good, "", good, "{oops")
    with pytest.raises(ValueError, match=r"m.jsonl:4: not valid JSON"):
        load_cuts(path)
    path = write_lines(manifest_dir / "m.jsonl", "[1, 2]")
    with pytest.raises(ValueError, match=r"m.jsonl:1: a JSON list, not an object"):
        load_cuts(path)


def test_a_manifest_that_is_not_utf8_is_named(manifest_dir) -> None:
    line = json.dumps({"audio": "good.wav", "text": "caf\u00e9"}, ensure_ascii=False) + "\n"
    (manifest_dir / "latin.jsonl").write_bytes(line.encode() + line.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.jsonl:2: not UTF-8 text"):
        load_cuts(manifest_dir / "latin.jsonl")


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_an_empty_manifest_says_so(manifest_dir, content) -> None:
    (manifest_dir / "empty.jsonl").write_text(content)
    with pytest.raises(ValueError, match="empty.jsonl is empty: it lists no utterances"):
        load_cuts(manifest_dir / "empty.jsonl")


def test_a_utf8_bom_is_accepted(manifest_dir) -> None:
    line = json.dumps({"audio": "good.wav", "text": "hi", "id": "u1"})
    cuts = load_cuts(write_lines(manifest_dir / "bom.jsonl", line, bom=True))
    assert [c.id for c in cuts] == ["u1"]


def test_null_and_empty_text_are_skipped_not_read_as_words(manifest_dir) -> None:
    path = write_lines(
        manifest_dir / "m.jsonl",
        json.dumps({"audio": "good.wav", "text": None, "id": "null"}),
        json.dumps({"audio": "good.wav", "text": " ", "id": "blank"}),
        json.dumps({"audio": "good.wav", "text": "hi", "id": "ok"}),
    )
    report = SkipReport()
    cuts = load_cuts(path, report)
    assert [c.id for c in cuts] == ["ok"]
    assert sorted(s.cut_id for s in report.examples) == ["blank", "null"]


def test_unknown_keys_name_the_file_line_and_expected_keys(manifest_dir) -> None:
    path = write_lines(manifest_dir / "m.jsonl", json.dumps({"path": "good.wav", "text": "hi"}))
    with pytest.raises(ValueError, match=r"m.jsonl:1 has keys \['path', 'text'\]: neither"):
        load_cuts(path)


def test_a_file_that_is_not_a_manifest_is_named(manifest_dir) -> None:
    (manifest_dir / "m.jsonl.gz").write_bytes(b"definitely not gzip")
    with pytest.raises(ValueError, match="m.jsonl.gz is not a manifest zipasr reads"):
        load_cuts(manifest_dir / "m.jsonl.gz")


# --- training configs and output folders at the command line ------------------------------------


def test_a_config_that_is_not_yaml_is_named_with_its_line(capsys, tmp_path) -> None:
    (tmp_path / "bad.yaml").write_text("model:\n  preset: [small\n")
    code, _, err = run_cli(capsys, "train", str(tmp_path / "bad.yaml"))
    assert code == EXIT_ERROR
    assert err.startswith(f"zipasr: error: {tmp_path / 'bad.yaml'}:3:1: not valid YAML (")
    assert err.count("\n") == 1
    code, _, err = run_cli(capsys, "train", str(tmp_path / "missing.yaml"))
    assert code == EXIT_ERROR and "missing.yaml: No such file or directory" in err


@pytest.mark.parametrize("command", ["synth", "demo", "export"])
def test_an_output_folder_that_cannot_be_made_is_refused_first(capsys, tmp_path, command) -> None:
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "x"
    argv = {"synth": ["synth"], "demo": ["demo", "--quick"], "export": ["export", "no-model"]}
    code, _, err = run_cli(capsys, *argv[command], "--out", str(out))
    assert code == EXIT_ERROR
    assert (
        err == f"zipasr: error: --out {out}: cannot be a folder ({tmp_path / 'afile'} is a file)\n"
    )
    code, _, err = run_cli(capsys, *argv[command], "--out", str(tmp_path / "afile"))
    assert code == EXIT_ERROR
    assert err == f"zipasr: error: --out {tmp_path / 'afile'}: is a file, not a folder\n"


def test_train_names_a_missing_manifest_before_any_work(capsys, tmp_path) -> None:
    (tmp_path / "run.yaml").write_text("max_steps: 10\n")
    code, _, err = run_cli(
        capsys,
        "train",
        str(tmp_path / "run.yaml"),
        "--exp_dir",
        str(tmp_path / "exp"),
        "--data.train_manifest",
        str(tmp_path / "nope.jsonl"),
    )
    assert code == EXIT_ERROR
    assert err == f"zipasr: error: data.train_manifest: {tmp_path / 'nope.jsonl'} does not exist\n"
    assert not (tmp_path / "exp").exists()


def test_a_given_token_table_replaces_a_broken_one_in_the_folder(model_dir, tmp_path) -> None:
    target = copy_model(model_dir, tmp_path)
    (target / "tokens.txt").write_text("a 0\nb 1\n")  # the folder's own table: wrong size
    with pytest.raises(ValueError, match="tokens.txt has 2 tokens but the model has 30 outputs"):
        zipasr.load(target)
    (tmp_path / "good.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(TOKENS)))
    assert zipasr.load(target, tokens=tmp_path / "good.txt").tokens == TOKENS


def test_samples_beyond_any_format_are_refused_and_low_precision_tensors_accepted() -> None:
    with pytest.raises(AudioError, match="samples reach 1e\\+20, beyond any audio format's range"):
        check_samples(np.array([0.0, 1e20], dtype=np.float32))
    half = torch.tensor(tone(0.1)).to(torch.bfloat16)
    assert check_samples(half).dtype == np.float32
    assert np.allclose(
        zipasr.audio.to_mono_16k(np.round(tone(0.1) * 32768).astype(np.int16), 16000).numpy(),
        tone(0.1),
        atol=1 / 32768,
    )
