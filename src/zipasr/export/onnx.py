"""Export to the sherpa-onnx layout with ``torch.onnx`` (the dynamo exporter; no TorchScript).

Four variants, from the model as written (on a copy, the training-only modules are dropped
with :func:`zipasr.strip_training_modules`, and :func:`adapters.keep_convolutions` keeps every
convolution a convolution):

- offline transducer: encoder.onnx, decoder.onnx, joiner.onnx
  (``OfflineRecognizer.from_transducer``);
- offline CTC: model.onnx (``OfflineRecognizer.from_zipformer_ctc``);
- streaming transducer: encoder.onnx, decoder.onnx, joiner.onnx
  (``OnlineRecognizer.from_transducer``);
- streaming CTC: model.onnx (``OnlineRecognizer.from_zipformer2_ctc``);

each with ``tokens.txt``; ``int8`` and ``fp16`` add ``*.int8.onnx`` / ``*.fp16.onnx`` copies.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from zipasr.export import adapters
from zipasr.export.metadata import (
    add_metadata,
    decoder_metadata,
    joiner_metadata,
    offline_encoder_metadata,
    streaming_metadata,
    write_tokens,
)
from zipasr.export.quantize import fp16_files, int8_files
from zipasr.models.asr import AsrModel
from zipasr.optional import require_extra
from zipasr.regularizers import strip_training_modules

#: The dynamo exporter's own opset (it converts down poorly; sherpa-onnx's runtime reads it).
OPSET = 18
# Lower bounds for the dynamic axes while tracing. They keep the tracer from specialising a
# size-1 (batch) or very short (time) axis; the graph itself runs any N >= 1 and T >= 9,
# which the tests check against PyTorch.
_TRACE_MIN_BATCH, _TRACE_MIN_FRAMES = 2, 25
_EXAMPLE_FRAMES = 100


@dataclass(frozen=True)
class ExportOptions:
    """What to export.

    Attributes:
        ctc: the CTC head (one ``model.onnx``) instead of the transducer (three files).
        streaming: the chunked streaming encoder (causal models only).
        chunk_frames: streaming chunk in 50 Hz frames (16 = 320 ms; the window is 2 * 16 + 13
            feature frames).
        left_context_frames: streaming left context in 50 Hz frames.
        int8: also write dynamically quantised copies (weights int8; the decoder stays float).
        fp16: also write float16 copies (float32 inputs and outputs).
    """

    ctc: bool = False
    streaming: bool = False
    chunk_frames: int = 16
    left_context_frames: int = 128
    int8: bool = False
    fp16: bool = False


@dataclass(frozen=True)
class ExportedModel:
    """One exported variant at one precision: the paths sherpa-onnx takes.

    Attributes:
        files: ``encoder``/``decoder``/``joiner`` (transducer) or ``model`` (CTC) -> path.
        tokens: the ``tokens.txt`` path.
        precision: ``"fp32"``, ``"int8"`` or ``"fp16"``.
    """

    files: dict[str, Path]
    tokens: Path
    ctc: bool
    streaming: bool
    precision: str = "fp32"
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        kind = ("streaming " if self.streaming else "offline ") + ("CTC" if self.ctc else "RNN-T")
        return f"{kind} {self.precision}"


def export_onnx(
    model: AsrModel,
    out_dir: str | os.PathLike[str],
    options: ExportOptions | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[ExportedModel]:
    """Writes the sherpa-onnx files of ``model`` into ``out_dir``.

    ``on_progress(message)`` is told as each file is started (the encoder takes the longest:
    about a minute for Zipformer-S on 2 CPU cores).
    Returns the float32 export first, then the int8 and fp16 copies that ``options`` asks for.
    Raises ValueError, naming the fix, for a model without token table, without the requested
    head, or non-causal with ``streaming``.
    """
    require_extra("export", "ONNX export")
    options = options or ExportOptions()
    if model.tokens is None:
        raise ValueError(
            "the model has no token table (model.tokens is None); load it with tokens (e.g. a "
            "tokens.txt beside an icefall checkpoint) so that tokens.txt can be written"
        )
    if options.streaming:
        if not model.config.encoder.causal:
            raise ValueError("streaming export needs a causal model (ZipformerConfig.causal=True)")
        model.config.encoder.check_chunking(options.chunk_frames, options.left_context_frames)
        model.initial_state(1, options.left_context_frames)  # validates the left context
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = strip_training_modules(copy.deepcopy(model)).eval()  # type: ignore[assignment]
    adapters.keep_convolutions(model)
    tokens = write_tokens(model.tokens or [], out / "tokens.txt")
    head: adapters.Head = "ctc" if options.ctc else "transducer"

    files: dict[str, Path] = {}
    say = on_progress or (lambda message: None)
    with torch.no_grad():
        say(f"exporting the {'streaming' if options.streaming else 'offline'} encoder")
        if options.streaming:
            meta = streaming_metadata(
                model.config.encoder, options.chunk_frames, options.left_context_frames, options.ctc
            )
            path = out / ("model.onnx" if options.ctc else "encoder.onnx")
            _export_streaming(model, head, options, path)
        else:
            meta = offline_encoder_metadata(options.ctc)
            path = out / ("model.onnx" if options.ctc else "encoder.onnx")
            _export_offline(model, head, path)
        add_metadata(path, meta)
        files["model" if options.ctc else "encoder"] = path
        if not options.ctc:
            say("exporting the decoder")
            files["decoder"] = _export_decoder(model, out / "decoder.onnx")
            say("exporting the joiner")
            files["joiner"] = _export_joiner(model, out / "joiner.onnx")
    fp32 = ExportedModel(files, tokens, options.ctc, options.streaming, "fp32", meta)
    exported = [fp32]
    if options.int8:
        say("quantising to int8")
        exported.append(dataclasses.replace(fp32, files=int8_files(files), precision="int8"))
    if options.fp16:
        say("converting to fp16")
        exported.append(dataclasses.replace(fp32, files=fp16_files(files), precision="fp16"))
    return exported


def _dim(name: str, minimum: int) -> Any:
    return torch.export.Dim(name, min=minimum)


def _export_offline(model: AsrModel, head: adapters.Head, path: Path) -> None:
    x = torch.zeros(_TRACE_MIN_BATCH, _EXAMPLE_FRAMES, model.config.encoder.feature_dim)
    x_lens = torch.full((_TRACE_MIN_BATCH,), _EXAMPLE_FRAMES, dtype=torch.int64)
    n, t = _dim("N", _TRACE_MIN_BATCH), _dim("T", _TRACE_MIN_FRAMES)
    outputs = ["encoder_out", "encoder_out_lens"]
    if head == "ctc":
        outputs = ["log_probs", "log_probs_len"]
    _export_graph(
        adapters.OfflineEncoder(model, head),
        (x, x_lens),
        path,
        ["x", "x_lens"],
        outputs,
        {"x": {0: n, 1: t}, "x_lens": {0: n}},
    )


def _export_streaming(
    model: AsrModel, head: adapters.Head, options: ExportOptions, path: Path
) -> None:
    batch = _TRACE_MIN_BATCH
    frames = model.encoder.chunk_input_frames(options.chunk_frames)
    x = torch.zeros(batch, frames, model.config.encoder.feature_dim)
    state = model.initial_state(batch, options.left_context_frames)
    names = list(adapters.flat_state(state))
    n = _dim("N", batch)
    axes = adapters.state_batch_axes(len(state.layers))
    shapes = ({0: n}, tuple({axis: n} for axis in axes))  # forward(x, *state)
    first = "log_probs" if head == "ctc" else "encoder_out"
    _export_graph(
        adapters.StreamingEncoder(model, head),
        (x, *state.to_flat()),
        path,
        ["x", *names],
        [first, *(f"new_{name}" for name in names)],
        shapes,
    )


def _export_decoder(model: AsrModel, path: Path) -> Path:
    transducer = model.config.transducer
    assert transducer is not None  # checked by the adapter
    y = torch.zeros(_TRACE_MIN_BATCH, transducer.context_size, dtype=torch.int64)
    n = _dim("N", _TRACE_MIN_BATCH)
    _export_graph(adapters.Decoder(model), (y,), path, ["y"], ["decoder_out"], {"y": {0: n}})
    add_metadata(path, decoder_metadata(model))
    return path


def _export_joiner(model: AsrModel, path: Path) -> Path:
    transducer = model.config.transducer
    assert transducer is not None
    enc = torch.zeros(_TRACE_MIN_BATCH, transducer.joiner_dim)
    n = _dim("N", _TRACE_MIN_BATCH)
    _export_graph(
        adapters.Joiner(model),
        (enc, enc.clone()),
        path,
        ["encoder_out", "decoder_out"],
        ["logit"],
        {"encoder_out": {0: n}, "decoder_out": {0: n}},
    )
    add_metadata(path, joiner_metadata(model))
    return path


def _export_graph(
    module: nn.Module,
    args: tuple[Tensor, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_shapes: dict[str, Any] | tuple[Any, ...],
) -> None:
    """One ``torch.onnx.export`` call (dynamo), weights inside the file."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    with warnings.catch_warnings():
        # The exporter warns that it renames equal dynamic axes; the names are the ones we give.
        warnings.simplefilter("ignore", UserWarning)
        # torch's own deprecation notices about its internals: nothing a user can act on.
        warnings.simplefilter("ignore", FutureWarning)
        # "torchvision is not installed. Skipping torchvision::nms" and the like: we need none.
        registration.setLevel(logging.ERROR)
        try:
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=dynamic_shapes,
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        finally:
            registration.setLevel(level)
