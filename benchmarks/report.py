"""The suite's report: markdown tables, the closing ratios and the PNG plots, from the results
dict that ``python -m benchmarks`` also saves as ``results.json`` (so a report can be redrawn
with ``python -m benchmarks.report DIR`` without measuring again)."""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.convergence import ABLATION_RUNS, SECOND_SEED, SWEEPS, best_of, main_runs
from benchmarks.speed import PAIRS

#: The Zipformer whose fraction of matmul peak the closing note reports.
ZIPFORMER = "zipformer-m"
BASELINE = "zipformer-scaledadam"


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def _threads(n: int) -> str:
    return f"{n} thread" + ("" if n == 1 else "s")


def _processes(settings: dict[str, Any]) -> str:
    n = settings.get("processes", 1)
    return f"{n} process{'' if n == 1 else 'es'} of {_threads(settings['threads'])}"


def _times(value: float) -> str:
    """A ratio as "1.26x", or "n/a" where it could not be measured."""
    text = _fmt(value, 2)
    return text if text == "n/a" else f"{text}x"


def _geomean(values: list[float]) -> float:
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else float("nan")


# --- tables -----------------------------------------------------------------------------------


def machine_section(machine: dict[str, Any]) -> str:
    rows = [
        ("date (UTC)", machine["date"]),
        ("CPU", f"{machine['cpu']} ({machine['logical_cpus']} logical CPUs)"),
        (
            "CPU cores used",
            f"{machine['threads']}: {_threads(machine['threads'])} for inference, "
            f"{machine['threads']} single-threaded data-parallel processes for training",
        ),
        ("software", f"Python {machine['python']}, torch {machine['torch']}, {machine['os']}"),
        ("load average at start", machine["load_average"]),
        ("OMP_WAIT_POLICY", machine["omp_wait_policy"]),
        ("command", f"`{machine['command']}`"),
    ]
    return "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)


def speed_table(speed: dict[str, Any]) -> str:
    matmul = speed["matmul"]
    lines = [
        f"float32 matmul peak: **{matmul['flops_per_s'] / 1e9:,.1f} GFLOP/s** "
        f"({matmul['size']} x {matmul['size']} operands, {_threads(speed['threads'])}, "
        f"best of 5). Encoders: batch 1, eval, `torch.no_grad()`, median of "
        f"{speed['repeats']} runs.",
        "",
        "| encoder | parameters | input (s) | time (ms) | RTF | peak memory (MiB) | GFLOP "
        "| GFLOP per audio second | achieved GFLOP/s | % of matmul peak |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in speed["encoders"]:
        lines.append(
            f"| {r['label']} | {r['parameters'] / 1e6:.1f} M | {r['seconds']:g} "
            f"| {_fmt(r['median_s'] * 1e3)} | {r['rtf']:.4f} | {_fmt(r['peak_mib'])} "
            f"| {_fmt(r['flops'] / 1e9)} | {_fmt(r['flops_per_audio_s'] / 1e9, 2)} "
            f"| {_fmt(r['achieved_flops_per_s'] / 1e9)} | {_fmt(100 * r['peak_fraction'])} |"
        )
    return "\n".join(lines) + "\n"


def speed_ratios(speed: dict[str, Any]) -> list[dict[str, Any]]:
    """Per size class (:data:`benchmarks.speed.PAIRS`) and input length measured for both of
    its encoders: the Conformer's time, peak memory and FLOPs over the Zipformer's (> 1: the
    Zipformer is better), size classes in order, lengths ascending."""
    by_key = {(r["model"], r["seconds"]): r for r in speed["encoders"]}
    out = []
    for size, (zipformer, conformer) in PAIRS.items():
        lengths = sorted(s for m, s in by_key if m == zipformer and (conformer, s) in by_key)
        for seconds in lengths:
            z, c = by_key[zipformer, seconds], by_key[conformer, seconds]
            out.append(
                {
                    "size": size,
                    "seconds": seconds,
                    "time": c["median_s"] / z["median_s"],
                    "memory": c["peak_mib"] / z["peak_mib"] if z["peak_mib"] > 0 else float("nan"),
                    "flops": c["flops"] / z["flops"],
                }
            )
    return out


def ratios_by_size(ratios: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """:func:`speed_ratios`'s rows grouped by size class, in its order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in ratios:
        out.setdefault(r["size"], []).append(r)
    return out


def ratio_table(ratios: list[dict[str, Any]]) -> str:
    lines = [
        "Size class X: Conformer-X (the Conformer of Zipformer-X's size) over Zipformer-X; "
        "above 1, the Zipformer is faster, lighter or cheaper.",
        "",
        "| size X | input (s) | Conformer-X time / Zipformer-X time | Conformer-X memory / "
        "Zipformer-X memory | Conformer-X FLOPs / Zipformer-X FLOPs |",
        "|---|---|---|---|---|",
    ]
    for r in ratios:
        lines.append(
            f"| {r['size']} | {r['seconds']:g} | {_fmt(r['time'], 2)} | {_fmt(r['memory'], 2)} "
            f"| {_fmt(r['flops'], 2)} |"
        )
    return "\n".join(lines) + "\n"


def ratio_key(size: str, measure: str) -> str:
    """The closing numbers' key for size class ``size``'s geometric-mean ratio of ``measure``
    ("time", "memory" or "flops"), e.g. ``conformer_over_zipformer_m_time``."""
    return f"conformer_over_zipformer_{size.lower()}_{measure}"


def _lengths(rows: list[dict[str, Any]]) -> str:
    """The input lengths of ``rows`` (ascending), e.g. "5-60 s", or "5 s" if one."""
    first, last = rows[0]["seconds"], rows[-1]["seconds"]
    return f"{first:g} s" if first == last else f"{first:g}-{last:g} s"


def conformer_comparison(ratios: list[dict[str, Any]], numbers: dict[str, float]) -> str:
    """The closing note on the Conformers: per size class the geometric means (already in
    ``numbers``) and the longest input's ratios, then where the Zipformer is not faster."""
    groups = ratios_by_size(ratios)
    lines = ["Each Zipformer vs the standard Conformer of its size:", ""]
    for size, rows in groups.items():
        longest = rows[-1]
        lines.append(
            f"- Conformer-{size} vs Zipformer-{size}: the Conformer takes "
            f"{_times(numbers[ratio_key(size, 'time')])} the Zipformer's time and "
            f"{_times(numbers[ratio_key(size, 'memory')])} its peak memory (geometric means "
            f"over {_lengths(rows)}; at {longest['seconds']:g} s: {_times(longest['time'])} "
            f"and {_times(longest['memory'])})."
        )
    slower = [f"{r['size']}, {r['seconds']:g} s" for r in ratios if not r["time"] > 1]
    faster = [size for size in groups if numbers[ratio_key(size, "time")] > 1]
    lines += [
        "",
        "The Zipformer is faster than the Conformer of its size at "
        f"{len(ratios) - len(slower)} of {len(ratios)} (size class, input length) points"
        + (f" (not at {'; '.join(slower)})" if slower else "")
        + f", and on the geometric mean over the lengths in {len(faster)} of {len(groups)} "
        "size classes" + (f" ({', '.join(faster)})." if faster else "."),
    ]
    return "\n".join(lines)


def by_steps(conv: dict[str, Any]) -> bool:
    """Whether the convergence runs had an equal-step budget (else equal wall-clock)."""
    return conv["settings"].get("budget_steps") is not None


def _budget(settings: dict[str, Any]) -> str:
    steps = settings.get("budget_steps")
    return f"{steps} optimizer steps" if steps is not None else f"{settings['budget_s']:g} s"


def cpu_of(run: dict[str, Any]) -> str:
    """The CPU a run was measured on: its model name, with vendor, family, model and stepping
    where recorded ("" if the run recorded none)."""
    machine = run.get("machine", {})
    cpu, ident = machine.get("cpu", ""), machine.get("cpu_id", "")
    return f"{cpu} ({ident})" if cpu and ident else cpu


def run_cpus(conv: dict[str, Any]) -> dict[str, list[str]]:
    """CPU (:func:`cpu_of`) -> the runs measured on it (runs that recorded one)."""
    cpus: dict[str, list[str]] = {}
    for r in conv["runs"]:
        cpu = cpu_of(r)
        if cpu:
            cpus.setdefault(cpu, []).append(r["name"])
    return cpus


def cpu_warning(conv: dict[str, Any]) -> str:
    """A warning line if the runs were measured on different CPU models (their times, and so
    their time axes, are then not comparable); empty otherwise."""
    cpus = run_cpus(conv)
    if len(cpus) < 2:
        return ""
    where = "; ".join(f"{cpu}: {', '.join(names)}" for cpu, names in cpus.items())
    if by_steps(conv) and conv.get("step_times"):
        fix = (
            " The time axis of the plots comes from the one `--time-steps` measurement, which"
            " is comparable; the table's own times are not."
        )
    elif by_steps(conv):
        fix = (
            " Compare them by steps, or time every configuration on one machine with "
            "`python -m benchmarks.convergence --time-steps N` (the report then uses that)."
        )
    else:
        fix = ""
    return (
        "**Warning: the runs were measured on different CPU models, so their training times "
        f"are not comparable ({where}).**{fix}"
    )


def step_seconds(conv: dict[str, Any], run: dict[str, Any]) -> tuple[float, str]:
    """Seconds per step for ``run``'s time axis and where it comes from: the interleaved
    ``--time-steps`` measurement if the results hold one for its configuration, else the
    run's own median seconds per step (NaN if it recorded none)."""
    calibrated = conv.get("step_times", {}).get("by_run", {})
    base = run["name"].removesuffix(SECOND_SEED)
    if base in calibrated:
        return calibrated[base], "step timing"
    return run.get("s_per_step", float("nan")), "own run"


def unplaced_runs(conv: dict[str, Any]) -> list[str]:
    """Runs the report cannot put on a time axis: neither the ``--time-steps`` measurement nor
    their own record gives their seconds per step."""
    return [r["name"] for r in conv["runs"] if math.isnan(step_seconds(conv, r)[0])]


def time_axis_note(conv: dict[str, Any]) -> str:
    """How the step-budget report puts runs on a time axis, and which it cannot place."""
    missing = unplaced_runs(conv)
    if not missing:
        return _time_axis_source(conv, missing)
    return (
        f"{_time_axis_source(conv, missing)} Left off the time axis (no seconds per step "
        f"recorded): {', '.join(missing)}."
    )


def _time_axis_source(conv: dict[str, Any], missing: list[str]) -> str:
    timing = conv.get("step_times")
    if timing:
        m = timing["machine"]
        untimed = [
            r["name"]
            for r in conv["runs"]
            if step_seconds(conv, r)[1] != "step timing" and r["name"] not in missing
        ]
        rest = (
            f" Runs it did not time are placed by their own seconds per step: {', '.join(untimed)}."
            if untimed
            else ""
        )
        return (
            "Time axis: steps x seconds per step from one interleaved measurement of every "
            f"configuration (`--time-steps {timing['steps']}`) on {cpu_of(timing)}, "
            f"{m['processes']} process(es) of {_threads(m['torch_threads'])}.{rest}"
        )
    cpus = run_cpus(conv)
    where = f" on {next(iter(cpus))}" if len(cpus) == 1 else ""
    return (
        "Time axis: steps x each run's own median seconds per step (the first tenth of the "
        f"steps left out){where}; steps are the fair axis, times depend on the machine and "
        "its load while each run trained."
    )


def final_loss(run: dict[str, Any]) -> float:
    """Mean training loss per frame over the last 10% of the run's steps."""
    losses = [loss for _, _, loss in run["curve"]]
    tail = losses[-max(1, len(losses) // 10) :]
    return statistics.fmean(tail) if tail else float("nan")


def convergence_table(conv: dict[str, Any]) -> str:
    s = conv["settings"]
    steps = by_steps(conv)
    if steps:
        budget = (
            f"Each run: {s['budget_steps']} optimizer steps in {_processes(s)} (schedules "
            f"sized for them: Eden warm-up {s['warmup_steps']:g} and decay {s['lr_steps']:g} "
            f"steps, loss warm-up {s['warm_step']} steps)"
        )
    else:
        budget = f"Each run: {s['budget_s']:g} s of training in {_processes(s)}"
    lines = [
        f"{budget} (evaluation not counted), {s['max_duration_s']:g} s of audio per step, "
        f"vocabulary {conv['data']['vocab_size']}, corpus {conv['data']['train_hours']:.2f} h "
        f"train / {conv['data']['test_utterances']} test utterances. WER: greedy search on the "
        "test split (CTC greedy in brackets).",
        "",
    ]
    warning = cpu_warning(conv)
    if warning:
        lines += [warning, ""]
    header = (
        "| run | encoder parameters | steps | audio seen (h) | final training loss "
        "| dev WER (%) | test WER (%) |"
    )
    timed = steps and bool(conv.get("step_times"))
    if steps:
        lines += [
            header
            + " s per step (median) | training time (min) | CPU |"
            + (" s per step, timed together | time at that rate (min) |" if timed else ""),
            "|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if timed else ""),
        ]
    else:
        lines += [header, "|---|---|---|---|---|---|---|"]
    runs = {r["name"]: r for r in conv["runs"]}
    best = {best_of(runs, names) for names in SWEEPS.values()}
    for r in conv["runs"]:
        flag = " (diverged)" if r["diverged"] else ""
        flag += " (best of its sweep)" if r["name"] in best else ""
        row = (
            f"| {r['label']}{flag} | {r['encoder_parameters'] / 1e6:.2f} M | {r['steps']} "
            f"| {r['audio_hours_seen']:.2f} | {_fmt(final_loss(r), 3)} | {_fmt(r['dev_wer'])} "
            f"| {_fmt(r['test_wer'])} ({_fmt(r['test_wer_ctc'])}) |"
        )
        if steps:
            cpu = cpu_of(r) or "n/a"
            row += (
                f" {_fmt(r.get('s_per_step', float('nan')), 3)} "
                f"| {_fmt(r.get('train_s', float('nan')) / 60)} | {cpu} |"
            )
            if timed:
                seconds, source = step_seconds(conv, r)
                if source != "step timing":
                    seconds = float("nan")
                row += f" {_fmt(seconds, 3)} | {_fmt(seconds * r['steps'] / 60)} |"
        lines.append(row)
    if steps:
        lines += ["", time_axis_note(conv)]
    return "\n".join(lines) + "\n"


def convergence_report(conv: dict[str, Any]) -> str:
    """The convergence table, and the seed table if any run has two seeds (what
    ``python -m benchmarks.convergence`` prints)."""
    seeds = seed_table(conv)
    return convergence_table(conv) + (f"\nTwo seeds:\n\n{seeds}" if seeds else "")


def seed_table(conv: dict[str, Any]) -> str:
    """Test WER of each run trained with two seeds, their mean and spread (max - min); empty
    if no run has a second seed."""
    runs = {r["name"]: r for r in conv["runs"]}
    pairs = [(runs[n], runs[n + SECOND_SEED]) for n in runs if n + SECOND_SEED in runs]
    if not pairs:
        return ""
    lines = [
        "| run | test WER seed 1 (%) | seed 2 (%) | mean (%) | spread (points) |",
        "|---|---|---|---|---|",
    ]
    for first, second in pairs:
        a, b = first["test_wer"], second["test_wer"]
        lines.append(
            f"| {first['label']} | {_fmt(a)} | {_fmt(b)} | {_fmt((a + b) / 2)} "
            f"| {_fmt(abs(a - b))} |"
        )
    return "\n".join(lines) + "\n"


def closing_note(results: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """The measured ratios in prose, and as numbers (also saved in results.json)."""
    numbers: dict[str, float] = {}
    parts = []
    speed = results.get("speed")
    if speed:
        ratios = speed_ratios(speed)
        for size, rows in ratios_by_size(ratios).items():
            for measure in ("time", "memory", "flops"):
                numbers[ratio_key(size, measure)] = _geomean([r[measure] for r in rows])
        if ratios:
            parts.append(conformer_comparison(ratios, numbers))
        fractions = [r["peak_fraction"] for r in speed["encoders"] if r["model"] == ZIPFORMER]
        if fractions:
            numbers["zipformer_m_fraction_of_matmul_peak"] = statistics.median(fractions)
            parts.append(
                "Zipformer-M's encoder reaches "
                f"{_fmt(100 * numbers['zipformer_m_fraction_of_matmul_peak'])}% of the "
                "measured float32 matmul peak (median over input lengths; counted FLOPs are "
                f"matrix products and convolutions only), range {_fmt(100 * min(fractions))}"
                f"-{_fmt(100 * max(fractions))}%."
            )
    conv = results.get("convergence")
    if conv:
        runs = {r["name"]: r for r in conv["runs"]}
        best_adam = best_of(runs, SWEEPS["adam"])
        if BASELINE in runs and best_adam is not None:
            ours, adam = runs[BASELINE], runs[best_adam]
            numbers["scaledadam_test_wer"] = ours["test_wer"]
            numbers["adam_test_wer"] = adam["test_wer"]
            parts.append(
                f"ScaledAdam vs Adam (Zipformer, {_budget(conv['settings'])} of "
                f"training each; Adam at its best learning rate, {adam['label']}): "
                f"test WER {_fmt(ours['test_wer'])}% vs "
                f"{_fmt(adam['test_wer'])}% (CTC greedy {_fmt(ours['test_wer_ctc'])}% vs "
                f"{_fmt(adam['test_wer_ctc'])}%)."
            )
        if BASELINE in runs:
            others = [
                f"{runs[name]['label']} {_fmt(runs[name]['test_wer'])}%"
                for name in dict.fromkeys((*main_runs(runs), *ABLATION_RUNS))
                if name in runs and name not in (BASELINE, best_adam)
            ]
            if others:
                same = "number of steps" if by_steps(conv) else "time"
                parts.append(
                    f"The other runs at the same {same}, test WER against the baseline's "
                    f"{_fmt(runs[BASELINE]['test_wer'])}%: " + "; ".join(others) + "."
                )
    return "\n\n".join(parts) + "\n", numbers


def headline(results: dict[str, Any], numbers: dict[str, float]) -> str:
    """One paragraph for the README, with the date and the machine."""
    m = results["machine"]
    bits = []
    groups = ratios_by_size(speed_ratios(results["speed"])) if "speed" in results else {}
    if groups:
        nan = float("nan")
        times = "/".join(_fmt(numbers.get(ratio_key(size, "time"), nan), 2) for size in groups)
        memory = "/".join(_fmt(numbers.get(ratio_key(size, "memory"), nan), 2) for size in groups)
        spans = [_lengths(rows) for rows in groups.values()]
        span = spans[0] if len(set(spans)) == 1 else "/".join(spans)
        bits.append(
            f"a standard Conformer of the same size needs {times}x the encoding time of "
            f"Zipformer-{'/'.join(groups)} and {memory}x the peak memory (geometric means over "
            f"{span} inputs, batch 1)"
        )
    if "scaledadam_test_wer" in numbers:
        equal = "steps" if by_steps(results["convergence"]) else "time"
        bits.append(
            f"after equal training {equal} on the demo corpus, Zipformer + ScaledAdam reaches "
            f"{_fmt(numbers['scaledadam_test_wer'])}% test WER vs "
            f"{_fmt(numbers['adam_test_wer'])}% with Adam"
        )
    if "zipformer_m_fraction_of_matmul_peak" in numbers:
        bits.append(
            "Zipformer-M's encoder runs at "
            f"{_fmt(100 * numbers['zipformer_m_fraction_of_matmul_peak'])}% of the machine's "
            "float32 matmul peak"
        )
    where = f"{m['cpu']}, {_threads(m['threads'])}, {m['date'][:10]}"
    return f"Measured by `python -m benchmarks` ({where}): " + "; ".join(bits) + ".\n"


def markdown(results: dict[str, Any], plots: list[str]) -> str:
    note, numbers = closing_note(results)
    results["ratios"] = numbers
    quick = results.get("quick")
    out = ["# zipasr benchmark results", ""]
    if quick:
        out += ["**--quick smoke run: tiny inputs, budget and corpus; not a measurement.**", ""]
    out += ["## Machine", "", machine_section(results["machine"])]
    out += [f"Whole run: {results['total_s'] / 60:.1f} min.", ""]
    if "speed" in results:
        out += ["## Encoder inference: time, memory, FLOPs", "", speed_table(results["speed"])]
        ratios = speed_ratios(results["speed"])
        if ratios:
            out += [ratio_table(ratios)]
    if "convergence" in results:
        equal = "steps" if by_steps(results["convergence"]) else "wall-clock"
        out += [f"## Convergence at equal {equal}", "", convergence_table(results["convergence"])]
        seeds = seed_table(results["convergence"])
        if seeds:
            out += ["### Two seeds", "", seeds]
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    out += ["## Closing note: measured ratios", "", note]
    out += ["## Headline (for the README)", "", headline(results, numbers)]
    return "\n".join(out)


# --- plots -------------------------------------------------------------------------------------


def _smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_speed(speed: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    models = list(dict.fromkeys(r["model"] for r in speed["encoders"]))
    # One colour per size class, each Conformer dashed beside its Zipformer.
    colour = {name: f"C{i}" for i, pair in enumerate(PAIRS.values()) for name in pair}
    panels = (
        ("median_s", 1.0, "inference time (s)"),
        ("peak_mib", 1.0, "peak memory above weights (MiB)"),
        ("peak_fraction", 100.0, "% of float32 matmul peak"),
    )
    for ax, (key, scale, ylabel) in zip(axes, panels):
        for model in models:
            rows = sorted(
                (r for r in speed["encoders"] if r["model"] == model), key=lambda r: r["seconds"]
            )
            ax.plot(
                [r["seconds"] for r in rows],
                [r[key] * scale for r in rows],
                marker="o",
                color=colour.get(model),
                linestyle="--" if model.startswith("conformer") else "-",
                label=f"{rows[0]['label']} ({rows[0]['parameters'] / 1e6:.1f} M)",
            )
        ax.set_xlabel("input length (s of audio)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"Encoder inference, batch 1, {_threads(speed['threads'])}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_runs(conv: dict[str, Any], names: tuple[str, ...], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {r["name"]: r for r in conv["runs"]}
    steps = by_steps(conv)
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.2))
    # Equal steps: steps first (the fair axis), time (steps x seconds per step) last.
    loss_ax, step_ax, wer_ax = axes if steps else (axes[0], axes[2], axes[1])
    for name in names:
        run = runs.get(name)
        if run is None:
            continue
        losses = [loss for _, _, loss in run["curve"]]
        window = max(1, len(losses) // 20)
        loss_x = [step for _, step, _ in run["curve"]] if steps else [t for t, _, _ in run["curve"]]
        loss_ax.plot(loss_x, _smooth(losses, window), label=run["label"])
        style = "--" if name.endswith(SECOND_SEED) else "-"
        wers = [w for _, _, w in run["dev_wer_curve"]]
        if steps:
            per_step = step_seconds(conv, run)[0]
            times = [step * per_step / 60 for _, step, _ in run["dev_wer_curve"]]
        else:
            times = [t for t, _, _ in run["dev_wer_curve"]]
        wer_ax.plot(times, wers, style, marker="o", label=run["label"])
        step_ax.plot(
            [step for _, step, _ in run["dev_wer_curve"]],
            wers,
            style,
            marker="o",
            label=run["label"],
        )
    loss_ax.set_xlabel("optimizer steps" if steps else "training time (s)")
    loss_ax.set_ylabel("training loss per frame (moving average)")
    if steps:
        source = "--time-steps" if conv.get("step_times") else "each run's median s/step"
        label = f"training time (min) = steps x s/step ({source})"
        if not conv.get("step_times") and len(run_cpus(conv)) > 1:
            label += "\nCPU models differ: not comparable"
        wer_ax.set_xlabel(label)
    else:
        wer_ax.set_xlabel("training time (s)")
    wer_ax.set_ylabel("dev WER (%), greedy search")
    step_ax.set_xlabel("optimizer steps")
    step_ax.set_ylabel("dev WER (%), greedy search")
    for ax in (loss_ax, wer_ax, step_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(results: dict[str, Any], out: Path) -> Path:
    """Plots into ``out`` and ``out/results.md``; returns the markdown's path."""
    plots = []
    if "speed" in results:
        plots.append(plot_speed(results["speed"], out / "speed.png").name)
    if "convergence" in results:
        conv = results["convergence"]
        s = conv["settings"]
        equal = f"{s['budget_steps']} steps" if by_steps(conv) else "wall-clock"
        title = f"Equal {equal}, {_processes(s)}: "
        plots.append(
            plot_runs(
                conv,
                main_runs({r["name"]: r for r in conv["runs"]}),
                title + "optimizers and encoders",
                out / "convergence.png",
            ).name
        )
        plots.append(
            plot_runs(conv, ABLATION_RUNS, title + "ablations", out / "ablations.png").name
        )
    path = out / "results.md"
    path.write_text(markdown(results, plots))
    return path


def main(argv: list[str] | None = None) -> None:
    """Redraws DIR/results.md and the plots from DIR/results.json."""
    import json

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m benchmarks.report DIR  (a folder with results.json)")
    out = Path(args[0])
    results = json.loads((out / "results.json").read_text())
    print(write_report(results, out))


if __name__ == "__main__":
    main()
