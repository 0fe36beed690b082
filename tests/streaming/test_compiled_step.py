"""The compiled chunk step (``StreamingConfig(compile=True)``, zipasr.streaming.compiled): one
frozen step per model, shared by its recognizers, compiled again when its weights change.

Compiling for real takes minutes on 2 cores, so the default tests replace ``torch.compile`` by
a recorder that runs the function eagerly; the slow test compiles."""

from __future__ import annotations

import copy

import pytest
import torch

from zipasr.encoder.zipformer import Zipformer
from zipasr.models.asr import AsrModel
from zipasr.streaming import StreamingConfig, StreamingRecognizer, compiled
from zipasr.streaming.bf16 import Bf16Linear, with_bf16_linears
from zipasr.streaming.compiled import BF16_COMPILE_OPTIONS, _can_skip_guards, compile_chunk_step

from .test_recognizer import audio, make_model, stream_together


class RecordingCompile:
    """Stands in for ``torch.compile``: records each compile and, at each call, whether
    inductor's ``freezing`` was on, the batch size and whether dynamo would evaluate every
    guard; runs the function eagerly."""

    def __init__(self) -> None:
        self.compiles: list[tuple[object, dict]] = []
        self.freezing: list[bool] = []
        self.calls: list[tuple[int, bool]] = []  # (streams, every guard evaluated)
        self.runners: list[torch.nn.Module] = []  # the encoder each call ran

    def __call__(self, fn, **kwargs):
        self.compiles.append((fn, kwargs))

        def run(encoder, features, state):
            import torch._dynamo.eval_frame
            import torch._inductor.config

            self.freezing.append(torch._inductor.config.freezing)
            stance = getattr(torch._dynamo.eval_frame, "_stance", None)  # torch >= 2.6
            skipping = stance is not None and stance.skip_guard_eval_unsafe
            self.calls.append((features.shape[0], not skipping))
            self.runners.append(encoder)
            return fn(encoder, features, state)

        return run


@pytest.fixture
def recording(monkeypatch):
    recorder = RecordingCompile()
    monkeypatch.setattr(torch, "compile", recorder)
    return recorder


def tokens(model: AsrModel, compile: bool, clip) -> list[int]:
    recognizer = StreamingRecognizer(model, StreamingConfig(16, 64, compile=compile))
    return stream_together(recognizer, [clip])[0]


def test_each_model_gets_one_frozen_step_of_its_own(recording):
    a, b = make_model(0), make_model(1)
    clip = audio(1.2, seed=3)
    expected = [tokens(a, False, clip), tokens(b, False, clip)]
    assert expected[0] != expected[1], "the two models should say different things"
    assert recording.compiles == []
    got = [tokens(a, True, clip), tokens(a, True, clip), tokens(b, True, clip)]
    assert got == [expected[0], expected[0], expected[1]]
    # Two compiles (two recognizers of one model share one), each of a code object of its own
    # (dynamo's cache is per code object), traced whole, with freezing on at every call.
    assert len(recording.compiles) == 2
    codes = [fn.__code__ for fn, _ in recording.compiles]
    assert codes[0] is not codes[1]
    assert all(code is not Zipformer.forward_chunk.__code__ for code in codes)
    for _, kwargs in recording.compiles:
        assert kwargs == {"fullgraph": True, "options": {"cpp_wrapper": True}}
    assert recording.freezing and all(recording.freezing)
    import torch._inductor.config

    assert not torch._inductor.config.freezing, "freezing is only on during the step"


def test_weights_changed_in_place_compile_the_step_again(recording):
    model = make_model(0)
    clip = audio(1.2, seed=3)
    recognizer = StreamingRecognizer(model, StreamingConfig(16, 64, compile=True))
    before = stream_together(recognizer, [clip])[0]
    assert len(recording.compiles) == 1
    with torch.no_grad():  # as load_state_dict or an optimizer step would: same tensors
        for p in model.encoder.parameters():
            p.mul_(1.5)
    with pytest.warns(UserWarning, match="compiling it again"):
        after = stream_together(recognizer, [clip])[0]
    assert len(recording.compiles) == 2
    assert after == tokens(model, False, clip) != before


def test_each_thread_count_gets_a_step_of_its_own(recording):
    # Inductor's CPU kernels keep the thread count they were built with, unguarded.
    model = make_model(0)
    clip = audio(1.2, seed=3)
    recognizer = StreamingRecognizer(model, StreamingConfig(16, 64, compile=True))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = stream_together(recognizer, [clip])[0]
        torch.set_num_threads(2)
        with pytest.warns(UserWarning, match="compiled for \\[1\\] thread"):
            two = stream_together(recognizer, [clip])[0]
        torch.set_num_threads(1)
        assert stream_together(recognizer, [clip])[0] == one == two
    finally:
        torch.set_num_threads(threads)
    assert len(recording.compiles) == 2, "one step per thread count, kept"
    assert recording.compiles[0][0].__code__ is not recording.compiles[1][0].__code__


@pytest.mark.skipif(not _can_skip_guards(), reason="torch < 2.6 evaluates every guard")
def test_guards_are_evaluated_for_each_new_input_signature_only(recording, monkeypatch):
    monkeypatch.setattr(compiled.threading, "active_count", lambda: 1)
    # After the first call with a signature (batch size, state shapes, ...) dynamo runs only
    # the guards that tell its compiled entries apart: thousands fewer per chunk.
    model = make_model(0)
    recognizer = StreamingRecognizer(model, StreamingConfig(16, 64, compile=True))
    one, two = [audio(0.7, seed=3)], [audio(0.7, seed=4), audio(0.7, seed=5)]
    eager = StreamingRecognizer(model, StreamingConfig(16, 64))
    expected = [stream_together(eager, clips) for clips in (one, two)]
    assert stream_together(recognizer, one) == expected[0]
    assert stream_together(recognizer, two) == expected[1]
    assert stream_together(recognizer, one) == expected[0]
    calls = recording.calls  # (streams, every guard evaluated), two chunks per clip
    assert calls == [(1, True), (1, False), (2, True), (2, False), (1, False), (1, False)]
    before = len(calls)
    with torch.no_grad():  # new weights: a new step, whose first call is guarded again
        for p in model.encoder.parameters():
            p.mul_(1.5)
    with pytest.warns(UserWarning, match="compiling it again"):
        stream_together(recognizer, one)
    assert [evaluated for _, evaluated in calls[before:]] == [True] + [False] * (
        len(calls) - before - 1
    )
    # A parameter replaced by a new one (as load_state_dict(assign=True) does) keeps no
    # version counter to compare: it is found by listing the model's tensors again (after
    # torch's registration hook saw an assignment) and compiles the step again.
    before, compiles = len(calls), len(recording.compiles)
    linear = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear))
    linear.weight = torch.nn.Parameter(linear.weight.detach() * 2)
    with pytest.warns(UserWarning, match="compiling it again"):
        got = stream_together(recognizer, two)
    assert got == stream_together(eager, two) != expected[1]
    assert len(recording.compiles) == compiles + 1
    stream_together(recognizer, one)
    assert calls[before:] == [(2, True), (2, False), (1, True), (1, False)]
    # An assignment elsewhere guards every signature once more, and compiles nothing.
    before = len(calls)
    torch.nn.Linear(2, 2)
    stream_together(recognizer, one)
    assert calls[before:] == [(1, True), (1, False)]
    assert len(recording.compiles) == compiles + 1
    # The stance is process-wide: with a second Python thread, or a stance of the user's,
    # every call evaluates every guard.
    before = len(calls)
    monkeypatch.setattr(compiled.threading, "active_count", lambda: 2)
    stream_together(recognizer, one)
    monkeypatch.setattr(compiled.threading, "active_count", lambda: 1)
    with torch.compiler.set_stance("eager_on_recompile"):
        stream_together(recognizer, one)
    assert calls[before:] == [(1, True)] * 4


@pytest.mark.slow  # compiling takes minutes on 2 cores
def test_compiled_steps_keep_models_and_weight_changes_apart():
    # Real inductor: a second model of the same architecture runs its own weights, and weights
    # changed in place are seen (after a warning), both as the eager step gives them.
    a, b = make_model(0), make_model(1)
    clip = audio(1.2, seed=3)
    assert tokens(a, True, clip) == tokens(a, False, clip)
    assert tokens(b, True, clip) == tokens(b, False, clip)
    with torch.no_grad():
        for p in a.encoder.parameters():
            p.mul_(1.5)
    with pytest.warns(UserWarning, match="compiling it again"):
        changed = tokens(a, True, clip)
    assert changed == tokens(a, False, clip)


@pytest.mark.slow  # compiling takes minutes on 2 cores
def test_a_new_thread_count_compiles_a_step_that_agrees():
    model = make_model(0)
    clip = audio(1.2, seed=3)
    recognizer = StreamingRecognizer(model, StreamingConfig(16, 64, compile=True))
    expected = tokens(model, False, clip)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert stream_together(recognizer, [clip])[0] == expected
        torch.set_num_threads(2)
        with pytest.warns(UserWarning, match="compiling it for 2"):
            assert stream_together(recognizer, [clip])[0] == expected
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow  # compiling takes minutes on 2 cores
def test_batch_sizes_that_alternate_pick_their_own_compiled_entries():
    # Real inductor: one stream, two, one, two again; after the first call with each batch
    # size only dynamo's differentiating guards run, and each call still gets eager's tokens.
    model = make_model(0)
    one, two = [audio(1.2, seed=3)], [audio(1.2, seed=4), audio(0.9, seed=5)]
    eager = StreamingRecognizer(model, StreamingConfig(16, 64))
    expected = [stream_together(eager, clips) for clips in (one, two)]
    recognizer = StreamingRecognizer(model, StreamingConfig(16, 64, compile=True))
    for clips, want in [(one, expected[0]), (two, expected[1])] * 2:
        assert stream_together(recognizer, clips) == want


def test_bf16_step_runs_a_copy_with_bfloat16_linear_layers(recording):
    model = make_model(0)
    clip = audio(1.2, seed=3)
    low = with_bf16_linears(model.encoder)
    linears = [m for m in model.encoder.stacks.modules() if type(m) is torch.nn.Linear]
    assert linears and all(p.dtype == torch.float32 for p in model.parameters())
    assert sum(isinstance(m, Bf16Linear) for m in low.modules()) == len(linears)
    assert not any(type(m) is torch.nn.Linear for m in low.stacks.modules())
    # The copy's chunk step differs from float32's by bfloat16 rounding: visibly, not much.
    with torch.inference_mode():
        state = model.initial_state(1, 64)
        x = torch.randn(1, model.encoder.chunk_input_frames(16), 80)
        exact, low_out = model.encode_chunk(x, state)[0], low.forward_chunk(x, state)[0]
    error = float((exact - low_out).abs().max() / exact.abs().max())
    assert 1e-5 < error < 1e-2
    config = StreamingConfig(16, 64, compile=True, precision="bf16")
    got = stream_together(StreamingRecognizer(model, config), [clip])[0]
    ((fn, kwargs),) = recording.compiles
    assert kwargs["options"].items() >= BF16_COMPILE_OPTIONS.items()
    assert (
        kwargs["options"]["max_autotune"]
        and kwargs["options"]["autotune_num_choices_displayed"] == 0
    )
    # Every call ran a bfloat16 copy of the encoder (whose tokens may equal float32's).
    assert recording.runners and all(
        r is not model.encoder and any(isinstance(m, Bf16Linear) for m in r.modules())
        for r in recording.runners
    )
    low_model = copy.deepcopy(model)
    low_model.encoder = low
    assert (
        got == stream_together(StreamingRecognizer(low_model, StreamingConfig(16, 64)), [clip])[0]
    )
    # The float32 step of the same model is a step of its own.
    assert tokens(model, True, clip) == tokens(model, False, clip)
    assert len(recording.compiles) == 2


def test_precision_is_checked():
    model = make_model(0)
    with pytest.raises(ValueError, match="precision='fp16'"):
        StreamingRecognizer(model, StreamingConfig(compile=True, precision="fp16"))
    with pytest.raises(ValueError, match="needs compile=True"):
        StreamingRecognizer(model, StreamingConfig(precision="bf16"))


@pytest.mark.slow  # compiling with max_autotune takes minutes on 2 cores
def test_compiled_bf16_step_agrees_with_its_eager_copy():
    model = make_model(0)
    step = compile_chunk_step(model, "bf16")
    low = with_bf16_linears(model.encoder)
    torch.manual_seed(0)
    with torch.inference_mode():
        state = exact_state = low_state = model.initial_state(1, 64)
        for _ in range(3):
            x = torch.randn(1, model.encoder.chunk_input_frames(16), 80)
            out, state = step(x, state)
            low_out, low_state = low.forward_chunk(x, low_state)
            exact, exact_state = model.encode_chunk(x, exact_state)
            scale = exact.abs().max()
            # The compiled step may keep the linear layers' outputs in float32 where eager
            # rounds them to bfloat16: the two differ by about that rounding, and both from
            # float32 by more than float32's own differences.
            assert float((out - low_out).abs().max() / scale) < 5e-3
            assert 1e-5 < float((out - exact).abs().max() / scale) < 1e-2
