from __future__ import annotations

from pathlib import Path

import zipasr
from zipasr.cli.main import main
from zipasr.data.synth import read_corpus_settings
from zipasr.decoding import NgramLm
from zipasr.train.config import load_config
from zipasr.train.demo import DEMO_LM_ORDER


# The whole demo pipeline, shrunk (24 steps): about 20 s on 2 cores.
def test_quick_demo_leaves_a_loadable_model_and_reports_wer(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path), "--quick", "--steps", "24"]) == 0
    out = capsys.readouterr().out
    assert "offline, modified beam search (beam 4): WER" in out
    assert "offline, greedy search:" in out and "streaming (320 ms chunks), greedy:" in out
    assert "chunk-by-chunk streaming of the raw audio gave the same text for" in out
    assert "beam search + language model:           WER" in out
    assert read_corpus_settings(tmp_path / "data")["pool"] == "wide"  # the demo's default
    model = zipasr.load(tmp_path / "model")
    assert NgramLm(tmp_path / "model" / "lm.arpa", model.tokens).order == DEMO_LM_ORDER
    assert model.config.encoder.causal and model.tokens is not None
    assert (tmp_path / "data" / "test.jsonl").is_file()
    assert (tmp_path / "exp" / "training_curve.png").is_file()
    saved = load_config(tmp_path / "exp" / "config.yaml")
    assert saved.max_steps == 24 and saved.optim.lr_batches == 8  # --steps sizes the schedule
