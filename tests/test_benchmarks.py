"""The benchmark suite (benchmarks/): the Conformer baseline, the ablations, the measurements,
the report, and ``python -m benchmarks --quick`` end to end. No timings are asserted."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zipasr
from benchmarks import convergence, report, speed
from benchmarks.conformer import ConformerConfig, ConformerEncoder, num_parameters, rel_shift
from zipasr.nn.bias_norm import BiasNorm
from zipasr.testing import random_features, tiny_config

ROOT = Path(__file__).resolve().parents[1]
TOKENS = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581{c}" for c in "abcdefghijklmnopqrstuvwxy"]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- the Conformer ------------------------------------------------------------------------


def test_rel_shift_puts_distance_i_minus_j_at_i_j() -> None:
    t = 6
    scores = torch.randn(2, 3, t, 2 * t - 1)
    shifted = rel_shift(scores)
    for i in range(t):
        for j in range(t):
            # column k holds distance T - 1 - k; distance i - j is column T - 1 - i + j
            assert torch.equal(shifted[..., i, j], scores[..., i, t - 1 - i + j])


def test_conformer_shapes_lengths_and_padding_invariance() -> None:
    config = ConformerConfig(dim=32, num_layers=2, num_heads=4, conv_kernel=7)
    encoder = ConformerEncoder(config).eval()
    features, lengths = random_features([300, 180])
    with torch.no_grad():
        out, out_lengths = encoder(features, lengths)
        alone, alone_lengths = encoder(features[1:, :180], lengths[1:])
    assert out.shape == (2, config.output_frames(300), 32)
    assert out_lengths.tolist() == [config.output_frames(300), config.output_frames(180)]
    n = int(alone_lengths[0])
    torch.testing.assert_close(out[1, :n], alone[0, :n], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="full-context"):
        encoder(features, lengths, chunk_frames=16)


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_conformer_sizes_match_the_zipformers(size: str) -> None:
    with torch.device("meta"):
        zipformer = num_parameters(zipasr.Zipformer(getattr(zipasr.ZipformerConfig, size)()))
        conformer = num_parameters(ConformerEncoder(getattr(ConformerConfig, size)()))
    assert abs(conformer / zipformer - 1) < 0.01, (conformer, zipformer)


def test_speed_pairs_each_zipformer_with_the_conformer_of_its_size() -> None:
    assert set(speed.QUICK_MODELS) < set(speed.MODELS)
    for size, (zipformer, conformer) in speed.PAIRS.items():
        assert speed.LABELS[zipformer] == f"Zipformer-{size}"
        assert speed.LABELS[conformer] == f"Conformer-{size}"
    with torch.device("meta"):
        built = {name: speed.build_encoder(name) for name in speed.MODELS}
    assert isinstance(built["conformer-l"], ConformerEncoder)
    assert built["conformer-l"].config == ConformerConfig.large()
    assert built["zipformer-l"].config == zipasr.ZipformerConfig.large()
    assert not any(m.training for m in built.values())
    with pytest.raises(ValueError, match="choose one of"):
        speed.build_encoder("conformer-xl")


def test_demo_conformer_size_matches_the_demo_zipformer() -> None:
    with torch.device("meta"):
        demo = convergence.build_model(convergence.RUNS_BY_NAME["zipformer-scaledadam"], TOKENS)
        demo_conformer = convergence.build_model(
            convergence.RUNS_BY_NAME["conformer-adam-lr2e-3"], TOKENS
        )
    ours = num_parameters(demo.encoder)
    theirs = num_parameters(demo_conformer.encoder)
    assert abs(theirs / ours - 1) < 0.03, (theirs, ours)


# --- the ablations -------------------------------------------------------------------------


def test_layernorm_ablation_leaves_no_bias_norm() -> None:
    model = convergence.build_model(convergence.RUNS_BY_NAME["zipformer-layernorm"], TOKENS)
    assert not any(isinstance(m, BiasNorm) for m in model.modules())
    norms = [m for m in model.encoder.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 1 + 6  # the front end's and one per block (one block per stack)
    features, lengths = random_features([200, 150])
    losses = model(features, lengths, [[3, 4, 5], [6, 7]])
    (losses.simple + losses.pruned + losses.ctc).backward()


def test_swish_ablation_replaces_every_swoosh_call_and_restores(monkeypatch) -> None:
    import zipasr.encoder.feedforward
    import zipasr.nn.activations as activations

    encoder = zipasr.Zipformer(tiny_config())
    features, lengths = random_features([120])
    encoder.eval()
    with torch.no_grad():
        before = encoder(features, lengths)[0]
    original = zipasr.encoder.feedforward.swoosh_l

    def no_swoosh(*args, **kwargs):
        raise AssertionError("a Swoosh function was called under swish_activations()")

    with convergence.swish_activations():
        monkeypatch.setattr(activations, "_apply", no_swoosh)
        with torch.no_grad():
            during = encoder(features, lengths)[0]
        encoder.train()
        encoder(features, lengths)[0].sum().backward()  # the training path too
        monkeypatch.undo()
    encoder.eval()
    with torch.no_grad():
        after = encoder(features, lengths)[0]
    assert zipasr.encoder.feedforward.swoosh_l is original
    assert not torch.allclose(before, during)
    torch.testing.assert_close(before, after)


def test_no_bypass_ablation_leaves_only_the_modules_outputs() -> None:
    from zipasr.encoder.bypass import Bypass

    base = convergence.build_model(convergence.RUNS_BY_NAME["zipformer-scaledadam"], TOKENS)
    bypasses = sum(isinstance(m, Bypass) for m in base.encoder.modules())
    model = convergence.build_model(convergence.RUNS_BY_NAME["zipformer-no-bypass"], TOKENS)
    assert bypasses > 6 and not any(isinstance(m, Bypass) for m in model.modules())
    assert sum(isinstance(m, convergence._NoBypass) for m in model.modules()) == bypasses
    features, lengths = random_features([200, 150])
    losses = model(features, lengths, [[3, 4, 5], [6, 7]])
    (losses.simple + losses.pruned + losses.ctc).backward()


def test_run_names_sweeps_and_second_seeds() -> None:
    names = list(convergence.RUNS_BY_NAME)
    assert [n for n in names if n.startswith("zipformer-adam")] == [
        "zipformer-adam-lr1e-3",
        "zipformer-adam-lr2e-3",
        "zipformer-adam-lr4e-3",
        "zipformer-adam-lr8e-3",
    ]
    conformer = [n for n in names if n.startswith("conformer-adam")]
    assert conformer[0] == "conformer-adam-lr5e-4" and len(conformer) == 4
    assert convergence.RUNS_BY_NAME["conformer-adam-lr4e-3"].lr == 4e-3
    second = convergence.spec_named("zipformer-adam-lr2e-3-seed2")
    assert (second.seed, second.lr, second.label) == (1, 2e-3, "Zipformer + Adam (lr 2e-3), seed 2")
    with pytest.raises(ValueError, match="unknown run"):
        convergence.spec_named("zipformer-adam")
    runs = {
        "zipformer-scaledadam": {"name": "zipformer-scaledadam", "diverged": False, "dev_wer": 30},
        "zipformer-adam-lr1e-3": {
            "name": "zipformer-adam-lr1e-3",
            "diverged": False,
            "dev_wer": 50,
        },
        "zipformer-adam-lr2e-3": {
            "name": "zipformer-adam-lr2e-3",
            "diverged": False,
            "dev_wer": 40,
        },
        "zipformer-adam-lr4e-3": {"name": "zipformer-adam-lr4e-3", "diverged": True, "dev_wer": 9},
    }
    assert convergence.best_of(runs, convergence.SWEEPS["adam"]) == "zipformer-adam-lr2e-3"
    assert convergence.best_of(runs, convergence.SWEEPS["conformer"]) is None
    assert convergence.main_runs(runs) == ("zipformer-scaledadam", "zipformer-adam-lr2e-3")


def test_no_downsampling_ablation_runs_every_stack_at_50_hz() -> None:
    model = convergence.build_model(convergence.RUNS_BY_NAME["zipformer-no-downsampling"], TOKENS)
    assert model.encoder.config.downsampling == (1,) * 6
    assert all(stack.downsample is None for stack in model.encoder.stacks)
    features, lengths = random_features([200])
    model.eval()
    with torch.no_grad():
        out, out_lengths = model.encode(features, lengths)
    assert out.shape[1] == int(out_lengths[0])


# --- measurements --------------------------------------------------------------------------


_PEAK_PROBE = """
import torch
from benchmarks import speed
with speed.PeakMemory() as peak:
    block = torch.ones(16 * 1024 * 1024)  # 64 MiB
    del block
print(peak.method, peak.mib)
"""


def test_peak_memory_sees_a_large_temporary() -> None:
    # In a fresh process, as the suite measures: in this long-lived one the allocator may hand
    # back pages that are already resident, which no resident-memory probe can see.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    method, mib = done.stdout.split()
    assert method in ("VmHWM", "ru_maxrss")
    if method == "VmHWM":
        assert float(mib) > 50


def test_measured_flops_do_not_depend_on_the_blockwise_convnext(monkeypatch, one_thread) -> None:
    # The blockwise ConvNeXt's second 1x1 convolution is an in-place addmm_, which
    # FlopCounterMode's own table leaves out.
    from zipasr.encoder import embed

    monkeypatch.setattr(embed, "BLOCKWISE_MIN_NUMEL", 1 << 62)
    batched = speed.measure_encoder("zipformer-tiny", 1.0, threads=1, repeats=1)["flops"]
    monkeypatch.setattr(embed, "BLOCKWISE_MIN_NUMEL", 0)
    blockwise = speed.measure_encoder("zipformer-tiny", 1.0, threads=1, repeats=1)["flops"]
    assert blockwise == batched > 0


@pytest.mark.parametrize("name", ["zipformer-tiny", "conformer-tiny"])
def test_measure_encoder(name: str, one_thread) -> None:
    row = speed.measure_encoder(name, 1.0, threads=1, repeats=2)
    assert len(row["times_s"]) == 2 and row["median_s"] > 0
    assert row["flops"] > 0 and row["flops_per_audio_s"] == row["flops"]
    assert row["peak_mib"] >= 0 and row["parameters"] > 0


def test_matmul_peak(one_thread) -> None:
    peak = speed.measure_matmul_peak(1, (64, 128), repeats=2)
    assert peak["flops_per_s"] > 0 and peak["size"] in (64, 128)


@pytest.mark.parametrize(
    "run", ["conformer-adam-lr2e-3", "zipformer-swish", "zipformer-no-bypass-seed2"]
)
def test_one_convergence_run_in_process(run: str, tmp_path: Path, one_thread) -> None:
    settings = convergence.ConvergenceSettings(
        hours=0.01, budget_s=0.5, processes=1, threads=1, evals=2, max_duration_s=10.0
    )
    shared = convergence.prepare_shared(tmp_path, settings, log=lambda _: None)
    assert shared["vocab_size"] <= settings.vocab_size and shared["test_utterances"] >= 1
    result = convergence.train_run(convergence.spec_named(run), tmp_path, settings)
    assert result is not None and result["processes"] == 1
    assert result["steps"] >= 1 and result["train_s"] >= settings.budget_s
    assert 1 <= len(result["dev_wer_curve"]) <= 2
    assert result["test_wer"] >= 0 and result["test_wer_ctc"] >= 0
    json.dumps(result)  # it crosses a process boundary as JSON


def test_step_budget_sizes_the_schedules_and_the_evaluations() -> None:
    settings = convergence.ConvergenceSettings.for_steps(1350, processes=1, evals=6)
    # The demo's schedule for 1350 steps (zipasr.train.demo): decay 450, warm-up 135, loss 337.
    assert (settings.budget_steps, settings.lr_steps, settings.warmup_steps) == (1350, 450, 135)
    assert (settings.warm_step, settings.processes) == (337, 1)
    assert settings.eval_steps() == [225, 450, 675, 900, 1125, 1350]
    assert settings.describe_budget() == "1350 optimizer steps"
    few = convergence.ConvergenceSettings.for_steps(3, evals=6)
    assert few.eval_steps() == [1, 2, 3] and few.warm_step == 1
    from zipasr.train.demo import demo_config

    for n in (3, 1350):  # the demo trained for n steps runs the same schedules
        demo, run = demo_config("d", steps=n), convergence.ConvergenceSettings.for_steps(n)
        assert (demo.optim.lr_batches, demo.optim.warmup_batches, demo.loss.warm_step) == (
            run.lr_steps,
            run.warmup_steps,
            run.warm_step,
        )
    with pytest.raises(ValueError, match="at least 1 step"):
        convergence.ConvergenceSettings.for_steps(0)
    with pytest.raises(ValueError, match="step budget"):
        convergence.ConvergenceSettings().eval_steps()
    # The suite's estimate: 14 runs of 1350 steps at the default seconds per step.
    from benchmarks import suite

    expected = 14 * (1350 * suite.DEFAULT_S_PER_STEP + 6 * suite.EVAL_S + suite.RUN_OVERHEAD_S)
    assert suite.convergence_estimate_s(settings, 14) == pytest.approx(expected)
    wall = convergence.ConvergenceSettings(budget_s=100.0)
    assert suite.convergence_estimate_s(wall, 2) == pytest.approx(2 * (100 + suite.RUN_OVERHEAD_S))


def test_runs_left_counts_what_a_restarted_suite_would_train(tmp_path: Path) -> None:
    settings = convergence.ConvergenceSettings.for_steps(1350)
    runs = tuple(convergence.RUNS_BY_NAME)
    sweeps = len(convergence.SWEEPS)
    assert convergence.runs_left(tmp_path, settings, runs, second_seed=False) == len(runs)
    assert convergence.runs_left(tmp_path, settings, runs, True) == len(runs) + 1 + sweeps

    def save(name: str, run_settings: convergence.ConvergenceSettings) -> None:
        path = tmp_path / "convergence" / f"{name}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"settings": dataclasses.asdict(run_settings)}))

    baseline, adam = convergence.BASELINE_RUN.name, convergence.SWEEPS["adam"][0]
    save(baseline, settings)
    save(adam + convergence.SECOND_SEED, settings)  # some Adam run's second seed is done
    save(convergence.SWEEPS["conformer"][0], convergence.ConvergenceSettings.for_steps(900))
    # The baseline and one second seed are done; the Conformer run had another budget.
    assert convergence.runs_left(tmp_path, settings, runs, True) == len(runs) - 1 + 1 + sweeps - 1
    assert convergence.runs_left(tmp_path, settings, (baseline,), True) == 1


def test_seconds_per_step_is_the_median_after_the_first_steps() -> None:
    # Step durations 10 (the first step, left out), 1, 2, 3: median 2 (2.5 with the first).
    curve = [(t, i + 1, 0.0) for i, t in enumerate([10.0, 11.0, 13.0, 16.0])]
    assert convergence.seconds_per_step(curve) == pytest.approx(2.0)
    # 30 steps: the first 3 (a tenth) are left out, a burst in the others moves no median.
    durations = [50.0, 50.0, 50.0] + [2.0] * 15 + [40.0] * 12
    times = [sum(durations[: i + 1]) for i in range(30)]
    curve = [(t, i + 1, 0.0) for i, t in enumerate(times)]
    assert convergence.seconds_per_step(curve) == pytest.approx(2.0)
    assert convergence.seconds_per_step([(3.0, 1, 0.0)]) == pytest.approx(3.0)


def test_a_run_whose_loss_turns_nan_is_recorded_as_diverged(
    tmp_path: Path, one_thread, monkeypatch
) -> None:
    # zipasr's losses raise NonFiniteLossError on a non-finite value; a diverging run must end
    # as "diverged", not take the suite down with it. Other errors still propagate.
    from zipasr.losses import NonFiniteLossError
    from zipasr.train.step import Learner

    settings = convergence.ConvergenceSettings.for_steps(
        6, hours=0.01, processes=1, threads=1, evals=2, max_duration_s=10.0
    )
    convergence.prepare_shared(tmp_path, settings, log=lambda _: None)
    real_step = Learner.step

    def step(self, batches, number, chunk):
        if number == 2:
            raise NonFiniteLossError("simple RNN-T loss of utterance 0 (...) is nan")
        return real_step(self, batches, number, chunk)

    monkeypatch.setattr(Learner, "step", step)
    result = convergence.train_run(
        convergence.spec_named("zipformer-adam-lr8e-3"), tmp_path, settings
    )
    assert result is not None and result["diverged"] and result["steps"] == 2
    assert math.isnan(result["curve"][-1][2]) and len(result["dev_wer_curve"]) == 1

    def broken(self, batches, number, chunk):
        raise ValueError("lengths [3] include utterances shorter than 9 frames")

    monkeypatch.setattr(Learner, "step", broken)
    with pytest.raises(ValueError, match="shorter than"):
        convergence.train_run(convergence.spec_named("zipformer-adam-lr8e-3"), tmp_path, settings)


def test_a_failed_run_does_not_end_the_comparison(tmp_path: Path, monkeypatch) -> None:
    shared = {"prepare_s": 0.0, "train_hours": 0.0, "dev_utterances": 1, "test_utterances": 1}
    monkeypatch.setattr(convergence, "prepare_shared", lambda *a: {**shared, "vocab_size": 9})

    def one_run(name, out, settings, log):
        if name == "zipformer-swish":
            raise RuntimeError("run zipformer-swish failed (exit 1)")
        return {"name": name, "diverged": False, "dev_wer": 50.0}

    monkeypatch.setattr(convergence, "_one_run", one_run)
    said: list[str] = []
    settings = convergence.ConvergenceSettings.for_steps(10)
    runs = ("zipformer-scaledadam", "zipformer-swish", "zipformer-layernorm")
    conv = convergence.run_convergence(tmp_path, settings, runs, log=said.append)
    assert [r["name"] for r in conv["runs"]] == ["zipformer-scaledadam", "zipformer-layernorm"]
    assert any("run zipformer-swish FAILED" in line for line in said)


def test_step_budget_run_and_step_timing_in_process(tmp_path: Path, one_thread) -> None:
    from benchmarks.suite import cpu_name

    settings = convergence.ConvergenceSettings.for_steps(
        3, hours=0.01, processes=1, threads=1, evals=2, max_duration_s=10.0
    )
    convergence.prepare_shared(tmp_path, settings, log=lambda _: None)
    result = convergence.train_run(
        convergence.spec_named("zipformer-scaledadam"), tmp_path, settings
    )
    assert result is not None and result["steps"] == 3
    assert [step for _, step, _ in result["curve"]] == [1, 2, 3]
    assert [step for _, step, _ in result["dev_wer_curve"]] == [1, 3]
    machine = result["machine"]
    assert machine["cpu"] == cpu_name() and machine["cpu"]
    assert machine["cpu_id"] == convergence.cpu_id()
    if Path("/proc/cpuinfo").exists():
        assert "family" in machine["cpu_id"]
    assert (machine["torch_threads"], machine["processes"]) == (1, 1)
    assert result["s_per_step"] == pytest.approx(convergence.seconds_per_step(result["curve"]))
    assert 0 < result["s_per_step"] <= result["train_s"]
    # Step timing: runs that cost the same per step (learning rate, seed) share one timing.
    runs = ("zipformer-adam-lr1e-3", "conformer-adam-lr2e-3", "zipformer-adam-lr2e-3-seed2")
    assert convergence.timing_groups(runs) == {
        "zipformer-adam-lr1e-3": ["zipformer-adam-lr1e-3", "zipformer-adam-lr2e-3-seed2"],
        "conformer-adam-lr2e-3": ["conformer-adam-lr2e-3"],
    }
    timing = convergence.time_steps_worker(tmp_path, settings, 1, runs)
    assert timing is not None and timing["machine"]["cpu"] == cpu_name()
    assert set(timing["by_run"]) == set(runs) and timing["first_step"] == 1
    assert all(len(ts) == 1 and ts[0] > 0 for ts in timing["times_s"].values())
    assert timing["by_run"]["zipformer-adam-lr2e-3-seed2"] == timing["s_per_step"][runs[0]]
    assert convergence.timing_fits(timing, settings)
    assert not convergence.timing_fits(timing, dataclasses.replace(settings, processes=2))
    # Timed at the middle of another budget: other regularisation, not the runs' steps.
    assert not convergence.timing_fits(timing, dataclasses.replace(settings, budget_steps=99))


def test_finished_runs_are_reused_only_with_the_same_budget(tmp_path: Path, monkeypatch) -> None:
    launched = []

    def fake_launch(name, out, settings):
        launched.append((name, settings.budget_steps))
        return {
            "steps": settings.budget_steps or 1,
            "audio_hours_seen": 0.1,
            "test_wer": 50.0,
            "test_wer_ctc": 60.0,
            "diverged": False,
            "s_per_step": 0.5,
            "machine": {"cpu": "a CPU"},
        }

    monkeypatch.setattr(convergence, "launch_run", fake_launch)
    (tmp_path / "convergence").mkdir()
    quiet = lambda _: None  # noqa: E731
    at_10 = convergence.ConvergenceSettings.for_steps(10)
    convergence._one_run("zipformer-swish", tmp_path, at_10, quiet)
    convergence._one_run("zipformer-swish", tmp_path, at_10, quiet)  # reused
    convergence._one_run(
        "zipformer-swish", tmp_path, convergence.ConvergenceSettings.for_steps(20), quiet
    )
    assert launched == [("zipformer-swish", 10), ("zipformer-swish", 20)]
    # A run saved before budget_steps existed ran with the wall-clock budget: reused for it.
    saved = tmp_path / "convergence" / "zipformer-swish.json"
    old = json.loads(saved.read_text())
    old["settings"] = dataclasses.asdict(convergence.ConvergenceSettings())
    del old["settings"]["budget_steps"]
    saved.write_text(json.dumps(old))
    convergence._one_run("zipformer-swish", tmp_path, convergence.ConvergenceSettings(), quiet)
    assert len(launched) == 2


def test_data_parallel_run_under_torchrun(tmp_path: Path, one_thread) -> None:
    settings = convergence.ConvergenceSettings(
        hours=0.01, budget_s=1.0, processes=2, threads=1, evals=2, max_duration_s=20.0
    )
    convergence.prepare_shared(tmp_path, settings, log=lambda _: None)
    # About 7 s: torchrun starts two processes that import torch and lhotse.
    result = convergence.launch_run("zipformer-scaledadam", tmp_path, settings)
    assert result["processes"] == 2 and result["steps"] >= 1
    assert [step for _, step, _ in result["curve"]] == list(range(1, result["steps"] + 1))
    assert len(result["dev_wer_curve"]) >= 1 and result["test_wer"] >= 0


# --- the report ----------------------------------------------------------------------------


#: Cost of each fake encoder relative to Zipformer-M: the Conformer over the Zipformer is 1.2
#: for S, 2 for M and 1.5 for L, in time, memory and FLOPs alike.
FAKE_SCALES = {
    "zipformer-s": 0.5,
    "conformer-s": 0.6,
    "zipformer-m": 1.0,
    "conformer-m": 2.0,
    "zipformer-l": 2.0,
    "conformer-l": 3.0,
}


def fake_results(budget_steps: int | None = None) -> dict:
    rows = []
    for name, scale in FAKE_SCALES.items():
        for seconds in (5.0, 60.0):
            t = 0.01 * seconds * scale
            rows.append(
                {
                    "model": name,
                    "label": speed.LABELS[name],
                    "parameters": 64e6,
                    "seconds": seconds,
                    "median_s": t,
                    "rtf": t / seconds,
                    "peak_mib": 10 * seconds * scale,
                    "flops": 2e9 * seconds * scale,
                    "flops_per_audio_s": 2e9 * scale,
                    "achieved_flops_per_s": 2e9 * seconds * scale / t,
                    "peak_fraction": 0.25,
                }
            )
    runs = []
    specs = [*convergence.RUNS, convergence.spec_named("zipformer-scaledadam-seed2")]
    for spec in specs:
        runs.append(
            {
                **dataclasses.asdict(spec),
                "train_s": 10.0,
                "s_per_step": 1.0 if spec.encoder == "zipformer" else 0.5,
                "machine": {"cpu": "CPU A", "torch_threads": 1, "processes": 2},
                "encoder_parameters": 2.9e6,
                "steps": 10,
                "audio_hours_seen": 0.1,
                "diverged": spec.name == "zipformer-adam-lr4e-3",
                "curve": [(1.0 * i, i, 5.0 - 0.1 * i) for i in range(1, 11)],
                "dev_wer_curve": [(5.0, 5, 100.0), (10.0, 10, 80.0)],
                "dev_wer": 80.0,
                "test_wer": {"zipformer-scaledadam": 40.0, "zipformer-scaledadam-seed2": 44.0}.get(
                    spec.name, 60.0
                ),
                "test_wer_ctc": 70.0,
            }
        )
    return {
        "machine": {
            "date": "2024-01-01 00:00",
            "cpu": "a CPU",
            "logical_cpus": 2,
            "threads": 2,
            "python": "3",
            "torch": "2",
            "os": "linux",
            "load_average": "0",
            "omp_wait_policy": "(unset)",
            "command": "python -m benchmarks",
        },
        "quick": False,
        "total_s": 60.0,
        "speed": {
            "encoders": rows,
            "matmul": {"flops_per_s": 1e11, "size": 2048},
            "threads": 2,
            "repeats": 3,
        },
        "convergence": {
            "settings": dataclasses.asdict(
                convergence.ConvergenceSettings()
                if budget_steps is None
                else convergence.ConvergenceSettings.for_steps(budget_steps)
            ),
            "data": {"vocab_size": 40, "train_hours": 0.9, "test_utterances": 50},
            "runs": runs,
        },
    }


def test_report_tables_ratios_and_plots(tmp_path: Path) -> None:
    results = fake_results()
    path = report.write_report(results, tmp_path)
    text = path.read_text()
    for png in ("speed.png", "convergence.png", "ablations.png"):
        assert (tmp_path / png).stat().st_size > 1000
        assert f"]({png})" in text
    assert "| Zipformer-M | 64.0 M | 60 |" in text
    assert "Zipformer + Adam (lr 4e-3) (diverged)" in text
    assert "Zipformer + Adam (lr 1e-3) (best of its sweep)" in text
    assert "| Zipformer + ScaledAdam | 40.0 | 44.0 | 42.0 | 4.0 |" in text
    # One ratio table over the size classes, a closing line and a headline ratio per class.
    assert "| size X | input (s) | Conformer-X time / Zipformer-X time |" in text
    assert "| S | 5 | 1.20 | 1.20 | 1.20 |" in text and "| L | 60 | 1.50 | 1.50 | 1.50 |" in text
    assert "| Conformer-L | 64.0 M | 60 |" in text
    for size, ratio in (("S", "1.20"), ("M", "2.00"), ("L", "1.50")):
        assert (
            f"- Conformer-{size} vs Zipformer-{size}: the Conformer takes {ratio}x the "
            f"Zipformer's time and {ratio}x its peak memory (geometric means over 5-60 s; "
            f"at 60 s: {ratio}x and {ratio}x)."
        ) in text
    assert (
        "faster than the Conformer of its size at 6 of 6 (size class, input length) points, and"
        in text
    )
    assert "in 3 of 3 size classes (S, M, L)." in text
    assert "needs 1.20/2.00/1.50x the encoding time of Zipformer-S/M/L" in text
    assert "test WER 40.0% vs 60.0%" in text
    assert "Adam at its best learning rate, Zipformer + Adam (lr 1e-3)" in text
    assert (
        "against the baseline's 40.0%: Conformer + Adam (lr 5e-4) 60.0%; Zipformer + Scal" in text
    )
    assert "25.0% of the measured float32 matmul peak" in text
    assert "(a CPU, 2 threads, 2024-01-01)" in text and "5-60 s inputs" in text
    assert results["ratios"]["conformer_over_zipformer_m_time"] == pytest.approx(2.0)
    assert results["ratios"]["conformer_over_zipformer_s_memory"] == pytest.approx(1.2)
    assert results["ratios"]["conformer_over_zipformer_l_flops"] == pytest.approx(1.5)


def test_conformer_comparison_with_uneven_lengths_and_a_slower_point() -> None:
    speed_results = fake_results()["speed"]
    rows = speed_results["encoders"]
    # Conformer-S faster than Zipformer-S at 5 s; the L pair measured at 5 and 20 s only.
    next(r for r in rows if (r["model"], r["seconds"]) == ("conformer-s", 5.0))["median_s"] = 0.02
    rows[:] = [r for r in rows if not (r["model"].endswith("-l") and r["seconds"] == 60.0)]
    for name in ("zipformer-l", "conformer-l"):
        rows.append({**next(r for r in rows if r["model"] == name), "seconds": 20.0})
    rows.append({**next(r for r in rows if r["model"] == "zipformer-s"), "seconds": 30.0})
    ratios = report.speed_ratios(speed_results)
    # Classes in order, lengths ascending, only lengths both encoders of a class measured.
    assert [(r["size"], r["seconds"]) for r in ratios] == [
        ("S", 5.0), ("S", 60.0), ("M", 5.0), ("M", 60.0), ("L", 5.0), ("L", 20.0)
    ]  # fmt: skip
    assert ratios[0]["time"] == pytest.approx(0.02 / 0.025)
    note, numbers = report.closing_note({"speed": speed_results})
    assert numbers["conformer_over_zipformer_s_time"] == pytest.approx(math.sqrt(0.8 * 1.2))
    assert "its size at 5 of 6 (size class, input length) points (not at S, 5 s), and" in note
    assert "in 2 of 3 size classes (M, L)." in note
    assert "(geometric means over 5-20 s; at 20 s: 1.50x and 1.50x)" in note
    results = {**fake_results(), "speed": speed_results}
    assert "(geometric means over 5-60 s/5-60 s/5-20 s inputs" in report.headline(results, numbers)


def test_report_of_results_saved_before_the_s_and_l_conformers(tmp_path: Path) -> None:
    # results.json of 2026-11-25: Zipformer-S, Zipformer-M and "Conformer" (conformer-m).
    results = fake_results()
    rows = results["speed"]["encoders"]
    rows[:] = [r for r in rows if r["model"] in ("zipformer-s", "zipformer-m", "conformer-m")]
    for r in rows:
        r["label"] = "Conformer" if r["model"] == "conformer-m" else r["label"]
    text = report.write_report(results, tmp_path).read_text()
    assert "| M | 60 | 2.00 | 2.00 | 2.00 |" in text and "| S | 5 |" not in text
    assert "its size at 2 of 2 (size class, input length) points" in text
    assert "needs 2.00x the encoding time of Zipformer-M and 2.00x the peak memory" in text
    assert set(k for k in results["ratios"] if k.startswith("conformer_over")) == {
        f"conformer_over_zipformer_m_{measure}" for measure in ("time", "memory", "flops")
    }


def test_conformer_comparison_says_n_a_for_an_unmeasured_memory() -> None:
    speed_results = fake_results()["speed"]
    for r in speed_results["encoders"]:
        if r["model"] == "zipformer-s":
            r["peak_mib"] = 0.0  # nothing measurable: the ratio is undefined
    note, numbers = report.closing_note({"speed": speed_results})
    assert math.isnan(numbers["conformer_over_zipformer_s_memory"])
    assert "1.20x the Zipformer's time and n/a its peak memory" in note
    assert "at 60 s: 1.20x and n/a)" in note


def test_report_in_step_mode_uses_steps_and_warns_about_mixed_cpus(tmp_path: Path) -> None:
    results = fake_results(budget_steps=10)
    conv = results["convergence"]
    text = report.write_report(results, tmp_path).read_text()
    assert "## Convergence at equal steps" in text and "Each run: 10 optimizer steps" in text
    assert "Eden warm-up 1 and decay 3.33333 steps, loss warm-up 2 steps" in text
    assert "| s per step (median) | training time (min) | CPU |" in text
    assert "| 1.000 | 0.2 | CPU A |" in text and "| 0.500 | 0.2 | CPU A |" in text
    assert "each run's own median seconds per step" in text and "on CPU A" in text
    assert "ScaledAdam vs Adam (Zipformer, 10 optimizer steps of training each" in text
    assert "after equal training steps" in text and "different CPU models" not in text
    for png in ("convergence.png", "ablations.png"):
        assert (tmp_path / png).stat().st_size > 1000
    # The time axis: each run's own seconds per step, or the --time-steps measurement.
    conformer = next(r for r in conv["runs"] if r["name"] == "conformer-adam-lr2e-3")
    assert report.step_seconds(conv, conformer) == (0.5, "own run")
    seed2 = next(r for r in conv["runs"] if r["name"] == "zipformer-scaledadam-seed2")
    conv["step_times"] = {
        "by_run": {"zipformer-scaledadam": 0.25},
        "steps": 20,
        "machine": {"cpu": "CPU C", "processes": 2, "torch_threads": 1},
    }
    assert report.step_seconds(conv, seed2) == (0.25, "step timing")
    assert report.step_seconds(conv, conformer) == (0.5, "own run")
    table = report.convergence_table(conv)
    assert "(`--time-steps 20`) on CPU C" in table
    # With a timing, each timed run's rate and its steps' time at that rate; n/a for the rest.
    assert "| s per step, timed together | time at that rate (min) |" in table
    baseline_row = next(line for line in table.splitlines() if line.startswith("| Zipformer + S"))
    assert baseline_row.endswith(f" 0.250 | {0.25 * 10 / 60:.1f} |")
    conformer_row = next(line for line in table.splitlines() if line.startswith("| Conformer"))
    assert conformer_row.endswith(" n/a | n/a |")
    assert "own seconds per step: zipformer-adam-lr1e-3," in table
    assert "zipformer-scaledadam," not in table.split("own seconds per step")[-1]
    del conv["step_times"]
    # A run saved before runs recorded their seconds per step cannot be placed in time, with
    # or without a --time-steps measurement that leaves its configuration out.
    saved_s = conformer.pop("s_per_step")
    note = report.time_axis_note(conv)
    assert note.endswith(
        "Left off the time axis (no seconds per step recorded): conformer-adam-lr2e-3."
    )
    conv["step_times"] = {
        "by_run": {"zipformer-scaledadam": 0.25},
        "steps": 20,
        "machine": {"cpu": "CPU C", "processes": 2, "torch_threads": 1},
    }
    note = report.time_axis_note(conv)
    assert "recorded): conformer-adam-lr2e-3." in note
    assert "conformer-adam-lr2e-3" not in note.split("own seconds per step")[1].split("Left")[0]
    del conv["step_times"]
    conformer["s_per_step"] = saved_s
    assert "Left off" not in report.time_axis_note(conv)
    # Runs measured on two CPU models: their times are not comparable, and the report says so.
    conformer["machine"]["cpu"] = "CPU B"
    text = report.write_report(results, tmp_path).read_text()
    warning = next(line for line in text.splitlines() if "different CPU models" in line)
    assert "CPU B: conformer-adam-lr2e-3" in warning and "CPU A: zipformer-scaledadam" in warning
    assert "--time-steps N" in warning
    assert "different CPU models" in report.convergence_report(conv)
    # The same vague model name ("AMD EPYC" in many virtual machines) on two generations.
    conformer["machine"].update(cpu="CPU A", cpu_id="AuthenticAMD cpu family 25 model 17")
    warning = report.cpu_warning(conv)
    assert "CPU A (AuthenticAMD cpu family 25 model 17): conformer-adam-lr2e-3" in warning
    conformer["machine"]["cpu_id"] = ""
    assert report.cpu_warning(conv) == ""
    # The wall-clock report of the same runs keeps its own table (and warns too).
    wall = fake_results()
    wall["convergence"]["runs"][0]["machine"]["cpu"] = "CPU B"
    text = report.write_report(wall, tmp_path).read_text()
    assert "## Convergence at equal wall-clock" in text and "s per step" not in text
    assert "different CPU models" in text and "--time-steps" not in text


# --- the one command -----------------------------------------------------------------------


# About a minute on 2 cores (15 fresh processes: the matmul peak, 4 encoders at 2 lengths and
# 6 short trainings): the issue asks for the smoke run in the default suite.
def test_quick_suite_writes_the_report(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path), "--threads", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["model"] for r in results["speed"]["encoders"]} == set(speed.QUICK_MODELS)
    assert [r["name"] for r in results["convergence"]["runs"]] == list(convergence.QUICK_RUNS)
    assert set(results["ratios"]) >= {
        *(f"conformer_over_zipformer_{size}_time" for size in "sm"),
        *(f"conformer_over_zipformer_{size}_memory" for size in "sm"),
        "zipformer_m_fraction_of_matmul_peak",
        "scaledadam_test_wer",
        "adam_test_wer",
    }
    text = (tmp_path / "results.md").read_text()
    assert "--quick smoke run" in text and "## Closing note: measured ratios" in text
    for png in ("speed.png", "convergence.png", "ablations.png"):
        assert (tmp_path / png).is_file()
    assert "done in" in done.stdout and "matmul peak" in done.stdout


def test_prepared_data_is_not_reused_for_other_settings(tmp_path: Path, one_thread) -> None:
    settings = convergence.ConvergenceSettings(hours=0.01, threads=1, max_duration_s=10.0)
    convergence.prepare_shared(tmp_path, settings, log=lambda _: None)
    convergence.prepare_shared(tmp_path, settings, log=lambda _: None)  # same: reused
    with pytest.raises(ValueError, match="another output folder"):
        other = dataclasses.replace(settings, vocab_size=30)
        convergence.prepare_shared(tmp_path, other, log=lambda _: None)


def test_optimizer_benchmark_imports_another_trees_scaled_adam() -> None:
    # --baseline-src times an older checkout's ScaledAdam beside this one's in one process.
    import zipasr.optim
    from benchmarks.optimizer_step import scaled_adam_from_tree

    ours = sys.modules["zipasr.optim"]
    other = scaled_adam_from_tree(ROOT / "src")
    assert other is not zipasr.optim.ScaledAdam and other.__name__ == "ScaledAdam"
    assert sys.modules["zipasr.optim"] is ours  # this checkout's modules are back in place
    with pytest.raises(SystemExit, match="no zipasr package"):
        scaled_adam_from_tree(ROOT / "docs")


def test_decode_speed_script_runs() -> None:
    # The speed table comes from this script; a short run must print a full row.
    done = subprocess.run(
        [sys.executable, "benchmarks/decode_speed.py", "--seconds", "5", "--threads", "1"],
        cwd=ROOT, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("| 1 |"))
    rtfs = [float(x) for x in row.strip("| \n").split("|")[1:]]
    assert len(rtfs) == 3 and all(r > 0 for r in rtfs)
    assert "tokens per second of audio" in done.stdout
    share = re.search(r"encoder's chunk steps take (\d+)% of streaming", done.stdout)
    assert share and 0 < int(share.group(1)) <= 100 and "CPU: " in done.stdout


def test_streaming_precision_compares_runs_against_float32(tmp_path: Path, monkeypatch) -> None:
    import soundfile

    from benchmarks import streaming_precision

    from .streaming.test_recognizer import audio, make_model

    compiles = []

    def eager_compile(fn, **kwargs):  # compiling for real takes minutes
        compiles.append(kwargs["options"])
        return fn

    monkeypatch.setattr(torch, "compile", eager_compile)
    clips = [audio(1.0, seed=s) for s in (2, 3)]
    for i, clip in enumerate(clips):
        soundfile.write(tmp_path / f"{i}.wav", clip, 16000)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(f'{{"audio": "{i}.wav", "text": "x"}}\n' for i in range(2)))
    read, texts = streaming_precision.read_manifests([manifest])
    assert len(read) == 2 and texts == ["x", "x"]
    model = make_model(0)
    results = streaming_precision.compare(model, read, texts)
    assert [r.name for r in results] == ["fp32 eager", "fp32 compiled", "bf16 compiled"]
    assert results[0].texts == results[1].texts and results[0].texts[0]
    assert results[0].wer == streaming_precision.word_error_rate(texts, results[0].texts)
    assert len(compiles) == 2 and compiles[1]["max_autotune"]


# --- the GPU readiness check ----------------------------------------------------------------


def test_gpu_check_runs_its_code_path_on_cpu(tmp_path: Path, one_thread) -> None:
    from benchmarks import gpu_check

    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--device", "cpu", "--quick", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["machine"]["device"] == "cpu" and result["machine"]["cpu"]
    # CPU against itself: identical, which at least proves both sides ran the same model.
    assert all(d["max_abs"] == 0.0 for d in result["agreement"].values())
    assert set(result["agreement"]) == {"encoder", "loss_simple", "loss_pruned", "loss_ctc"}
    assert (
        result["precision"]["small bf16"]["ok"] and result["precision"]["small bf16"]["all_finite"]
    )
    assert result["precision"]["small fp16"] == {"skipped": "fp16 needs a CUDA device"}
    timing = result["timing"]
    assert timing["pruned_rnnt_loss_s"] > 0 and timing["training_step_s"]["small 8x10s bf16"] > 0
    assert set(timing["encoder_inference_s"]) == {"small 1x30s", "small 8x10s"}


def test_gpu_check_times_the_compiled_encoder(monkeypatch, one_thread) -> None:
    # With dynamo's eager backend: the code path without inductor's minutes of compiling.
    import zipasr.recognize as recognize
    from benchmarks import gpu_check

    monkeypatch.setattr(recognize, "_COMPILE_BACKEND", "eager")
    recognize._compiled_encoder.cache_clear()
    torch._dynamo.reset()
    try:
        result = gpu_check.time_compiled_encoder(torch.device("cpu"), quick=True, repeats=1)
    finally:
        recognize._compiled_encoder.cache_clear()
        torch._dynamo.reset()
    assert set(result["seconds"]) == set(result["compile_s"]) == {"small 1x30s", "small 8x10s"}
    assert all(v > 0 for v in [*result["seconds"].values(), *result["compile_s"].values()])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_gpu_check_without_a_gpu_says_so(capsys) -> None:
    from benchmarks import gpu_check

    assert gpu_check.main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out
