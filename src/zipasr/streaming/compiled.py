"""The streaming chunk step through ``torch.compile`` (``StreamingConfig(compile=True)``).

On a CPU the step is compiled with inductor's ``freezing``: the weights become constants of
the graph, so that the matrix products use weights packed once for the CPU's kernels instead
of packing them again at every call (one stream multiplies a few frames by every weight of
the model per chunk, and the packing cost as much as the product). Dynamo reads the setting
while it traces, so it is set around each call (passed with ``options`` it came too late: the
weights stayed inputs of the graph). ``cpp_wrapper`` calls the kernels from C++ instead of
Python (about 1,500 calls per chunk). Zipformer-S, one stream, one thread, chunk step (Intel
Xeon, torch 2.13, one process each, one session): 15.1-16.1 ms with both, 18.0-19.5 with
freezing passed as an option, 20.5 with neither, 31-33 eager; ``max_autotune`` (CPP GEMM
template) on top: 16.5 ms, and 17.8-18.5 against 16.3-17.9 without it in a later session,
after a 7-minute compile: no gain.

Inductor's CPU kernels are built for the thread count of the moment (``torch.get_num_threads``)
and keep it, with no guard that notices a change. A model therefore has one compiled step per
thread count it has streamed with; a new count compiles again, with a warning.

Dynamo checks thousands of guards before each call (about 5,000 for Zipformer-S: every
module's flags and hooks, every weight and state tensor): Zipformer-S, one stream, one thread
(Intel Xeon, 2026-12-07), 0.3-1.5 ms of a 17-19 ms step called in a loop, and in
``benchmarks/decode_speed.py --compile`` the chunk steps' RTF went from 0.044 to 0.036.
The step therefore records each input signature it has run (shapes, strides, dtypes and kinds of
the features and state tensors, grad and inference mode, the model's training flag): the first
call with a new signature runs with every guard, so that dynamo compiles or picks its entry,
and later calls with it run only the guards that tell dynamo's entries apart
(``torch.compiler.set_stance(skip_guard_eval_unsafe=True)``). That stance is process-wide, so it
is only taken while the process runs one Python thread and nobody set another stance; with
more threads every call checks every guard. What the signature leaves out is covered
otherwise, as far as it goes: weights changed in place by their version counters and data
pointers (below); a parameter, buffer or submodule assigned anywhere (``load_state_dict(
assign=True)`` included) by torch's global registration hooks, after which every signature is
guarded once more and the encoder's modules and tensors are compared with those it compiled
with (a replaced one compiles again; any module built anywhere, a compile's own graph modules
included, costs one such check, about a millisecond); a conversion (``model.to``) by the dtype
and device of the model's first parameter. Not covered: a conversion of part of the model, a
submodule's own ``train()``, other Python attributes changed while it streams.

Frozen weights bring two hazards, both handled here:

- Dynamo keeps compiled code per code object, shared by every ``torch.compile`` of the same
  function, and guards a parameter that an earlier unfrozen trace saw by its shape alone: a
  second model of the same architecture could run the first one's frozen weights. Each model
  therefore compiles its own copy of ``Zipformer.forward_chunk``'s code (its recognizers share
  it: a CLI run makes one recognizer per file), traced whole (``fullgraph``), so that no inner
  frame is compiled on the shared code.
- Weights changed in place (``load_state_dict``, an optimizer step, ``p.data = ...``) keep
  their identity, so no guard notices. The step records the version counters and data pointers
  of the encoder's tensors when it compiles and compiles again, with a warning, when one has
  changed. (A copy into the same storage that bumps no counter, ``p.data.copy_``, is missed.)
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from zipasr.encoder.state import EncoderState
from zipasr.encoder.zipformer import Zipformer
from zipasr.models.asr import AsrModel
from zipasr.streaming.bf16 import with_bf16_linears

#: Inductor options of the frozen CPU step (``freezing`` itself is set around each call).
CPU_COMPILE_OPTIONS: dict[str, Any] = {"cpp_wrapper": True}
#: ... and of the bfloat16 one: inductor's own GEMM kernels, timed against oneDNN's for each
#: matrix shape while it compiles (``max_autotune``), are several times faster for one
#: stream's few rows (see :mod:`zipasr.streaming.bf16`).
BF16_COMPILE_OPTIONS: dict[str, Any] = {
    **CPU_COMPILE_OPTIONS,
    "max_autotune": True,
    "max_autotune_gemm_backends": "CPP,ATEN",
}
#: Inductor options that keep its autotuning quiet (a table per matrix shape on stderr
#: otherwise); those that this torch has are added to the bfloat16 step's options.
QUIET_AUTOTUNE: dict[str, Any] = {
    "autotune_num_choices_displayed": 0,
    "max_autotune_report_choices_stats": False,
}
#: The precisions of the CPU step: float32 throughout, or bfloat16 linear layers.
PRECISIONS = ("fp32", "bf16")

ChunkStep = Callable[[Tensor, EncoderState], tuple[Tensor, EncoderState]]

_FROZEN: weakref.WeakKeyDictionary[AsrModel, dict[str, _FrozenStep]] = weakref.WeakKeyDictionary()

#: Parameters, buffers and submodules assigned to any module since the first frozen step was
#: made (counted by torch's global registration hooks, installed then).
_assignments = [0]


def _count_assignment(*args: Any) -> None:
    _assignments[0] += 1


@functools.cache
def _install_assignment_hooks() -> None:
    from torch.nn.modules import module

    module.register_module_parameter_registration_hook(_count_assignment)
    module.register_module_buffer_registration_hook(_count_assignment)
    module.register_module_module_registration_hook(_count_assignment)


def compile_chunk_step(model: AsrModel, precision: str = "fp32") -> ChunkStep:
    """``model.encode_chunk`` through ``torch.compile``: frozen on a CPU (one compiled step
    per model, precision and thread count, compiled again if its weights change), plain
    elsewhere.
    ``precision="bf16"`` (CPU only) runs the encoder layers' linear layers in bfloat16 (see
    :mod:`zipasr.streaming.bf16`)."""
    check_precision(precision)
    if next(model.parameters()).device.type != "cpu":
        if precision != "fp32":
            raise ValueError(f"precision={precision!r} is for CPUs; this model is not on one")
        return torch.compile(model.encode_chunk)  # type: ignore[no-any-return]
    steps = _FROZEN.get(model)
    if steps is None:
        steps = _FROZEN[model] = {}
    frozen = steps.get(precision)
    if frozen is None:
        frozen = steps[precision] = _FrozenStep(bf16=precision == "bf16")
    return functools.partial(frozen, model)


def check_precision(precision: str) -> None:
    """Raises ValueError unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose one of {list(PRECISIONS)}")


class _FrozenStep:
    """The frozen compiled steps of one model, one per thread count: ``(model, features,
    state)``. They run the model's encoder's ``forward_chunk``; with ``bf16``, a copy of the
    encoder with bfloat16 linear layers."""

    def __init__(self, bf16: bool = False) -> None:
        import torch._inductor.config as inductor_config  # here: a second to import

        _install_assignment_hooks()
        self._bf16 = bf16
        self._options = CPU_COMPILE_OPTIONS
        if bf16:
            quiet = {k: v for k, v in QUIET_AUTOTUNE.items() if hasattr(inductor_config, k)}
            self._options = {**BF16_COMPILE_OPTIONS, **quiet}
        # One patch object, entered at every call (a new one per call would leave a context
        # variable behind each time).
        self._freezing = inductor_config.patch(freezing=True)
        # Per thread count: the compiled step, and the input signatures it has run with all
        # its guards evaluated.
        self._compiled: dict[int, tuple[Callable[..., Any], set[tuple[Any, ...]]]] = {}
        # The encoder the compiled steps run: the model's own, or its bfloat16 copy.
        self._runner: Zipformer | None = None
        # The count of assignments when the signatures were last checked.
        self._assignments = _assignments[0]
        # The encoder's modules, parameters and buffers when it compiled, and the tensors'
        # version counters and data pointers. (Listing them anew at every call would cost
        # more than a millisecond per chunk: they are listed again only after an assignment
        # somewhere.)
        self._parts: tuple[object, ...] = ()
        self._tensors: tuple[Tensor, ...] = ()
        self._versions: tuple[tuple[int, int], ...] = ()

    def __call__(
        self, model: AsrModel, features: Tensor, state: EncoderState
    ) -> tuple[Tensor, EncoderState]:
        if self._compiled and self._weights_changed(model):
            warnings.warn(
                "the model's weights changed since its streaming chunk step was compiled with "
                "them frozen in: compiling it again",
                stacklevel=3,
            )
            self._compiled.clear()
            self._runner = None
        threads = torch.get_num_threads()
        compiled = self._compiled.get(threads)
        if compiled is None:
            if self._compiled:
                warnings.warn(
                    f"the streaming chunk step was compiled for {sorted(self._compiled)} "
                    f"thread(s), and torch now uses {threads}: compiling it for {threads}",
                    stacklevel=3,
                )
            else:
                self._parts = _parts(model.encoder)
                self._tensors = tuple(p for p in self._parts if isinstance(p, Tensor))
                self._versions = _versions(self._tensors)
                self._runner = with_bf16_linears(model.encoder) if self._bf16 else model.encoder
                self._assignments = _assignments[0]
            # A code object of its own per compile: dynamo's cache would otherwise hand back
            # the step built for another thread count, or for the old weights.
            step = torch.compile(
                _fresh_copy(Zipformer.forward_chunk), fullgraph=True, options=self._options
            )
            compiled = self._compiled[threads] = (step, set())
        runner = self._runner
        assert runner is not None
        step, seen = compiled
        signature = _signature(model, features, state)
        known = signature in seen
        guards = _skipped_guards() if known else _quiet_compile()
        with self._freezing, guards:
            result = step(runner, features, state)
        if not known:
            seen.add(signature)
        return result

    def _weights_changed(self, model: AsrModel) -> bool:
        """Whether a weight of ``model``'s encoder changed in place or was replaced (or a
        module of it) since it compiled."""
        if _versions(self._tensors) != self._versions:
            return True
        if self._assignments == _assignments[0]:
            return False
        # Something was assigned somewhere: every signature is guarded once more, and the
        # encoder's parts are listed again.
        self._assignments = _assignments[0]
        for _, signatures in self._compiled.values():
            signatures.clear()
        parts = _parts(model.encoder)
        return len(parts) != len(self._parts) or any(a is not b for a, b in zip(parts, self._parts))


@contextlib.contextmanager
def _quiet_compile() -> Iterator[None]:
    """Around a call that may compile: inductor's autotuning (torch 2.13) warns that it uses
    the deprecated TypedStorage, which is torch's business, not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
        yield


def _skipped_guards() -> contextlib.AbstractContextManager[Any]:
    """Dynamo evaluating only its differentiating guards (torch >= 2.6), if the process runs
    one Python thread (the stance is process-wide: another thread's compiled call would skip
    its guards too) and its stance is the default one (a user's, such as ``"force_eager"``,
    is kept); otherwise all of them."""
    if _can_skip_guards() and threading.active_count() == 1:
        from torch._dynamo import eval_frame

        stance = eval_frame._stance
        if stance.stance == "default" and stance.backend is None:
            return torch.compiler.set_stance(skip_guard_eval_unsafe=True)
    return contextlib.nullcontext()


@functools.cache
def _can_skip_guards() -> bool:
    set_stance = getattr(torch.compiler, "set_stance", None)
    return (
        set_stance is not None
        and "skip_guard_eval_unsafe" in inspect.signature(set_stance).parameters
    )


def _signature(model: AsrModel, features: Tensor, state: EncoderState) -> tuple[Any, ...]:
    """What a call's guards depend on, as far as streaming changes it: the inputs' shapes,
    strides, dtypes, devices and kinds, the grad modes, the model's training flag and its
    first parameter's dtype and device (those of the rest follow it through ``model.to``)."""
    tensors = (features, *state.to_flat())
    weight = next(model.parameters())
    return (
        model.training,
        model.encoder.training,
        weight.dtype,
        weight.device,
        torch.is_grad_enabled(),
        torch.is_inference_mode_enabled(),
        *(
            (t.shape, t.stride(), t.dtype, t.device, t.requires_grad, t.is_inference())
            for t in tensors
        ),
    )


def _versions(tensors: tuple[Tensor, ...]) -> tuple[tuple[int, int], ...]:
    """The tensors' version counters (every in-place change bumps one) and data pointers
    (``p.data = ...`` changes one)."""
    return tuple((t._version, t.data_ptr()) for t in tensors)


def _parts(encoder: Zipformer) -> tuple[object, ...]:
    """The encoder's modules, parameters and buffers, to be compared by identity."""
    return (*encoder.modules(), *encoder.parameters(), *encoder.buffers())


def _fresh_copy(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with a code object of its own, so that dynamo's cache for it is new."""
    assert isinstance(function, types.FunctionType)
    copy = types.FunctionType(
        function.__code__.replace(),
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    return copy
