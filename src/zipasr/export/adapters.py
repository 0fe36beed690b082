"""The exported graphs' signatures: sherpa-onnx's named tensors around the model as written.

Each adapter only routes tensors: it calls :class:`~zipasr.models.AsrModel`'s own primitives
(``encode``, ``encode_chunk``, the joiner's projections, the CTC head) and reshapes nothing the
model does not. The streaming adapter is the one place where the typed
:class:`~zipasr.encoder.state.EncoderState` becomes the flat ``cached_key_0``... tensors.
:func:`keep_convolutions` is the one place where export computes something differently
from eager PyTorch (the same sums, as convolution calls).
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from zipasr.encoder.state import EncoderState
from zipasr.models.asr import AsrModel
from zipasr.models.decoder import StatelessDecoder
from zipasr.nn.causal_conv import ChunkCausalDepthwiseConv1d

Head = Literal["transducer", "ctc"]

#: sherpa-onnx's names of a layer's six caches, in the order of :meth:`LayerState.tensors`.
LAYER_STATE_NAMES = ("key", "nonlin_attn", "val1", "val2", "conv1", "conv2")
#: Which axis of each layer cache holds the batch (the runtime concatenates streams on it).
LAYER_STATE_BATCH_AXES = (1, 1, 1, 1, 0, 0)


def state_names(num_layers: int) -> list[str]:
    """Input names of the streaming state: ``cached_<name>_<j>`` for each of the ``num_layers``
    layers (stack 0's first), then ``embed_states`` and ``processed_lens``. Outputs add ``new_``.
    """
    names = [f"cached_{name}_{j}" for j in range(num_layers) for name in LAYER_STATE_NAMES]
    return [*names, "embed_states", "processed_lens"]


def state_batch_axes(num_layers: int) -> list[int]:
    """The batch axis of each tensor of :func:`state_names`."""
    return [*LAYER_STATE_BATCH_AXES * num_layers, 0, 0]


def flat_state(state: EncoderState) -> dict[str, Tensor]:
    """The state as sherpa-onnx's named inputs, in input order."""
    flat = state.to_flat()
    return dict(zip(state_names(len(state.layers)), flat))


def typed_state(tensors: list[Tensor]) -> EncoderState:
    """Inverse of :func:`flat_state`'s values (in input order)."""
    return EncoderState.from_flat(tensors)


def keep_convolutions(model: nn.Module) -> None:
    """Makes ``model`` (in place) compute every convolution with a convolution call, so that
    exported graphs keep their Conv nodes (as the reference's do).

    Eager PyTorch sums the taps of a streaming step's short depthwise convolutions directly and
    computes the decoder's one context position as matrix products: the same sums, faster in
    PyTorch on CPU, where that was measured; ONNX runtimes were not measured, and have their
    own Conv kernels.
    """
    for module in model.modules():
        if isinstance(module, ChunkCausalDepthwiseConv1d):
            module.direct_max_work = 0
        elif isinstance(module, StatelessDecoder):
            module.context_as_matmul = False


def _head(model: AsrModel, head: Head) -> nn.Module:
    if head == "ctc":
        if model.ctc is None:
            raise ValueError("this model has no CTC head (AsrModelConfig.ctc=False); drop --ctc")
        return model.ctc
    if model.transducer is None:
        raise ValueError("this model has no transducer head; export it with --ctc")
    return model.transducer.joiner.encoder_proj


class OfflineEncoder(nn.Module):
    """``(x, x_lens) -> (encoder_out, encoder_out_lens)`` (transducer: projected to the joiner
    dim) or ``(log_probs, log_probs_len)`` (CTC).

    Shapes:
        x: (N, T, 80) float32 fbank; x_lens: (N,) int64  ->  (N, T', J or V), (N,) int64 with
        T' = ((T - 7) // 2 + 1) // 2.
    """

    def __init__(self, model: AsrModel, head: Head) -> None:
        super().__init__()
        self.model, self.head = model, _head(model, head)

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        enc, lengths = self.model.encode(x, x_lens)
        return self.head(enc), lengths


class StreamingEncoder(nn.Module):
    """``(x, *state) -> (encoder_out or log_probs, *new_state)``, state as :func:`state_names`.

    Shapes:
        x: (N, 2 * chunk + 13, 80) float32 fbank window  ->  (N, chunk // 2, J or V).
    """

    def __init__(self, model: AsrModel, head: Head) -> None:
        super().__init__()
        self.model, self.head = model, _head(model, head)

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        enc, new_state = self.model.encode_chunk(x, typed_state(list(state)))
        return (self.head(enc), *new_state.to_flat())


class Decoder(nn.Module):
    """``y -> decoder_out``: the stateless decoder on the last ``context_size`` tokens, then the
    joiner's decoder projection. Negative ids (the start context) embed to zeros.

    Shapes:
        y: (N, context_size) int64  ->  (N, J)
    """

    def __init__(self, model: AsrModel) -> None:
        super().__init__()
        if model.transducer is None:
            raise ValueError("this model has no transducer head; export it with --ctc")
        self.decoder = model.transducer.decoder
        self.project = model.transducer.joiner.decoder_proj

    def forward(self, y: Tensor) -> Tensor:
        return self.project(self.decoder(y, need_pad=False)).squeeze(1)


class Joiner(nn.Module):
    """``(encoder_out, decoder_out) -> logit`` on already projected inputs.

    Shapes:
        encoder_out, decoder_out: (N, J) float32  ->  (N, V)
    """

    def __init__(self, model: AsrModel) -> None:
        super().__init__()
        if model.transducer is None:
            raise ValueError("this model has no transducer head; export it with --ctc")
        self.joiner = model.transducer.joiner

    def forward(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.joiner(encoder_out, decoder_out, project_input=False)  # type: ignore[no-any-return]
