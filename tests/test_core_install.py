"""What the core install (torch and numpy, no extras) gives, and how a missing extra is reported.

These run in both CI jobs: in the core-only venv the extras really are absent; in the full one
a subprocess blocks them (``sys.modules[name] = None`` makes their import fail), so both paths
are checked on every run.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]

#: Optional top-level modules, blocked in the subprocess to stand for a core-only install.
EXTRAS = ("lhotse", "kaldi_native_fbank", "sentencepiece", "soundfile", "yaml", "tqdm", "onnx")


def run_core(code: str) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter in which no extra can be imported."""
    prelude = f"import sys\nfor name in {EXTRAS!r}:\n    sys.modules[name] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_core_api_imports_without_extras():
    result = run_core(
        """
        import zipasr, zipasr.audio, zipasr.decoding, zipasr.streaming, zipasr.cli.main
        from zipasr import AsrModel, Zipformer, load, load_icefall, save
        from zipasr.optim import Eden, ScaledAdam
        loaded = sorted(n for n in sys.modules if n.split(".")[0] in
                        ("lhotse", "sentencepiece", "soundfile", "onnx", "yaml"))
        print("loaded:", [n for n in loaded if sys.modules[n] is not None])
        """
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout


def test_cli_help_and_info_without_extras():
    result = run_core(
        """
        from zipasr.cli.main import main
        try:
            main(["--help"])
        except SystemExit as e:
            assert e.code == 0, e.code
        assert main(["info", "--seconds", "1", "--threads", "1"]) == 0
        """
    )
    assert result.returncode == 0, result.stderr
    assert "usage: zipasr" in result.stdout and "parameters" in result.stdout


def test_offline_decoding_without_extras():
    result = run_core(
        """
        import torch, zipasr
        from zipasr.decoding import greedy_search
        from zipasr.encoder import ZipformerConfig
        config = zipasr.AsrModelConfig(ZipformerConfig.tiny(), vocab_size=10)
        model = zipasr.AsrModel(config).eval()
        with torch.no_grad():
            enc, lens = model.encode(torch.randn(1, 50, 80), torch.tensor([50]))
            print(len(greedy_search(model, enc, lens)))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


@pytest.mark.parametrize(
    "code, extra",
    [
        ("import zipasr.data", "data"),
        ("import zipasr.train", "train"),
        ("import zipasr.audio, torch; zipasr.audio.fbank(torch.zeros(1600), 16000)", "data"),
        ("import zipasr.audio; zipasr.audio.online_fbank()", "data"),
        ("import zipasr.audio; zipasr.audio.read_audio('x.wav')", "data"),
    ],
)
def test_missing_extra_is_named(code: str, extra: str):
    result = run_core(code)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("zipasr.optional.MissingExtraError")
    assert f'pip install "zipasr[{extra}]"' in last


@pytest.mark.parametrize(
    "argv, extra",
    [
        (["synth", "--out", "corpus"], "data"),
        (["train", "config.yaml"], "train"),
        (["demo", "--quick"], "train"),
        (["decode", "model", "dev.jsonl"], "data"),
        (["transcribe", "model", "a.wav"], "data"),
        (["export", "model", "--out", "onnx"], "export"),
    ],
)
def test_cli_names_the_missing_extra(argv: list[str], extra: str, tmp_path):
    result = run_core(
        f"""
        import os
        os.chdir({str(tmp_path)!r})
        from zipasr.cli.main import main
        sys.exit(main({argv!r}))
        """
    )
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("zipasr: error: ")
    assert f'pip install "zipasr[{extra}]"' in result.stderr


def test_a_broken_install_is_not_called_missing(tmp_path):
    """An installed package that fails to load for another reason keeps its own error."""
    (tmp_path / "kaldi_native_fbank.py").write_text("raise ImportError('libfoo.so: bad ELF')\n")
    result = subprocess.run(
        [sys.executable, "-c", "import zipasr.audio; zipasr.audio.online_fbank()"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    last = result.stderr.strip().splitlines()[-1]
    assert last == "ImportError: libfoo.so: bad ELF", result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("lhotse") is None, reason="needs the extras installed to map names"
)
def test_extra_of_agrees_with_pyproject():
    """optional.EXTRA_OF and INCLUDES name the extras pyproject.toml really declares: each
    module's distribution is listed in that extra, and an including extra requires the other."""
    from zipasr.optional import EXTRA_OF, INCLUDES

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {
        name: {re.split(r"[<>=\[ ;]", spec, maxsplit=1)[0].lower() for spec in specs}
        for name, specs in declared["optional-dependencies"].items()
    }
    dists = importlib.metadata.packages_distributions()
    for module, extra in EXTRA_OF.items():
        names = {d.lower().replace("_", "-") for d in dists[module]}
        assert names & extras[extra], f"{module} ({names}) is not in the {extra} extra"
    for extra, included in INCLUDES.items():
        for other in included:
            assert f"zipasr[{other}]" in declared["optional-dependencies"][extra]
