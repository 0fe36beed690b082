"""AsrModel: the Zipformer encoder composed with a transducer head, a CTC head, or both, and
optionally an attention decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from zipasr.encoder.state import EncoderState
from zipasr.encoder.zipformer import Zipformer
from zipasr.losses import cr_ctc_consistency, ctc_loss, pruned_rnnt_losses
from zipasr.models.attention_decoder import AttentionDecoder
from zipasr.models.config import AsrModelConfig
from zipasr.models.ctc import CtcHead
from zipasr.models.transducer import TransducerHead
from zipasr.schedule import TrainingClock


@dataclass
class AsrLosses:
    """Losses of one batch, each summed over utterances (the recipe's reduction), or None when
    the model has no such head.

    Attributes:
        simple: the smoothed "simple" RNN-T loss (transducer).
        pruned: the pruned RNN-T loss (transducer).
        ctc: the CTC loss.
        num_frames: total encoder output frames of the batch, for normalising.
        cr_ctc: CR-CTC's consistency term (training with ``cr_ctc=True`` only).
        attention: the attention decoder's label-smoothed cross-entropy.

    With ``cr_ctc=True`` every loss is computed on both views and halved (the recipe's
    reduction), so each term still counts every utterance once; ``num_frames`` counts one view.
    """

    simple: Tensor | None
    pruned: Tensor | None
    ctc: Tensor | None
    num_frames: int
    cr_ctc: Tensor | None = None
    attention: Tensor | None = None


class AsrModel(nn.Module):
    """A speech recognizer: :class:`Zipformer` encoder + transducer and/or CTC heads.

    ``model(features, lengths, targets)`` returns the training losses (:class:`AsrLosses`); the
    other methods are the primitives that decoders are built from: :meth:`encode`,
    :meth:`encode_chunk`, :meth:`predict`, :meth:`join` and :meth:`ctc_log_probs`.

    Args:
        config: the architecture.
        tokens: the token table (index = id), kept with the model for decoding and export.
        normalizer: the transcript normaliser the model was trained with (one of
            :data:`zipasr.text.NORMALIZERS`): decoding scores references with it.
        clock: the training clock (a new one if None); ``model.clock``.
    """

    def __init__(
        self,
        config: AsrModelConfig,
        *,
        tokens: list[str] | None = None,
        normalizer: str = "english",
        clock: TrainingClock | None = None,
    ) -> None:
        super().__init__()
        if tokens is not None and len(tokens) != config.vocab_size:
            raise ValueError(
                f"the token table has {len(tokens)} entries but vocab_size={config.vocab_size}"
            )
        self.config = config
        self.tokens = tokens
        self.normalizer = normalizer
        self.encoder = Zipformer(config.encoder, clock=clock)
        dim = config.encoder.output_dim
        self.transducer = (
            TransducerHead(dim, config.vocab_size, config.transducer)
            if config.transducer is not None
            else None
        )
        self.ctc = CtcHead(dim, config.vocab_size) if config.ctc else None
        self.attention_decoder = (
            AttentionDecoder(config.attention_decoder, config.vocab_size, dim)
            if config.attention_decoder is not None
            else None
        )

    @property
    def clock(self) -> TrainingClock:
        return self.encoder.clock

    @property
    def blank_id(self) -> int:
        return self.config.blank_id

    def encode(
        self,
        features: Tensor,
        lengths: Tensor,
        *,
        chunk_frames: int | None = None,
        left_context_frames: int | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Encoder output, (B, T, 80) fbank -> (B, T', C) at 25 Hz and (B,) lengths.

        This is what icefall's ``forward_encoder`` returns (before the joiner's projection).
        See :meth:`Zipformer.forward` for the arguments; the values of ``lengths`` are checked
        by :func:`~zipasr.encoder.zipformer.check_lengths`, not here.
        """
        return self.encoder(
            features, lengths, chunk_frames=chunk_frames, left_context_frames=left_context_frames
        )

    def encode_chunk(self, features: Tensor, state: EncoderState) -> tuple[Tensor, EncoderState]:
        """Streaming encoder step (causal models): see :meth:`Zipformer.forward_chunk`."""
        return self.encoder.forward_chunk(features, state)

    def initial_state(
        self, batch_size: int, left_context_frames: int, device: torch.device | str | None = None
    ) -> EncoderState:
        """Streaming state of ``batch_size`` new streams; see :meth:`Zipformer.initial_state`."""
        return self.encoder.initial_state(batch_size, left_context_frames, device)

    def forward(
        self,
        features: Tensor,
        lengths: Tensor,
        targets: list[list[int]],
        *,
        prune_range: int = 5,
        lm_only_scale: float = 0.25,
        am_only_scale: float = 0.0,
        chunk_frames: int | None = None,
        left_context_frames: int | None = None,
        cr_ctc: bool = False,
        label_smoothing: float = 0.1,
    ) -> AsrLosses:
        """The training losses of a batch, each summed over utterances (the recipe's reduction).

        Args:
            features: (B, T, 80) fbank; lengths: (B,) valid frames. With ``cr_ctc``, (2B, T, 80)
                and (2B,): two differently augmented views of the same B utterances, rows
                [0, B) and [B, 2B) (see :func:`zipasr.train.step.cr_ctc_views`).
            targets: B token id lists (no blanks).
            prune_range, lm_only_scale, am_only_scale: the pruned RNN-T settings (recipe values).
            chunk_frames, left_context_frames: simulated streaming for causal models (the
                training loop draws them; see :meth:`Zipformer.forward`).
            cr_ctc: consistency-regularised CTC: every loss on both views, halved, plus the
                consistency term :attr:`AsrLosses.cr_ctc` (needs the CTC head).
            label_smoothing: of the attention decoder's loss (the recipe's 0.1).

        Raises:
            ValueError: for an utterance whose loss would be infinite (more tokens than the
                encoder has frames for), naming it; filter such utterances out beforehand.
        """
        views = 2 if cr_ctc else 1
        if cr_ctc and self.ctc is None:
            raise ValueError("cr_ctc=True needs a CTC head (AsrModelConfig.ctc=True)")
        if len(targets) * views != features.shape[0]:
            raise ValueError(
                f"{len(targets)} target lists for a batch of {features.shape[0]}"
                + (" (cr_ctc=True expects two views per utterance)" if cr_ctc else "")
            )
        targets = list(targets) * views
        enc, enc_lens = self.encode(
            features, lengths, chunk_frames=chunk_frames, left_context_frames=left_context_frames
        )
        blank, device = self.blank_id, enc.device
        target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.int64, device=device)
        padded = torch.full((len(targets), max(1, max(map(len, targets)))), blank, device=device)
        for i, t in enumerate(targets):
            padded[i, : len(t)] = torch.tensor(t, dtype=torch.int64, device=device)
        simple = pruned = ctc = None
        if self.transducer is not None:
            head = self.transducer
            with_start = torch.cat((torch.full_like(padded[:, :1], blank), padded), dim=1)
            dec = head.decoder(with_start)  # (B, U + 1, D)
            rnnt = pruned_rnnt_losses(
                am_simple=head.simple_am_proj(enc),
                lm_simple=head.simple_lm_proj(dec),
                am_joint=head.joiner.project_encoder(enc),
                lm_joint=head.joiner.project_decoder(dec),
                join=lambda am, lm: head.joiner(am, lm, project_input=False),
                targets=padded,
                frame_lengths=enc_lens,
                target_lengths=target_lengths,
                blank=blank,
                prune_range=prune_range,
                lm_only_scale=lm_only_scale,
                am_only_scale=am_only_scale,
            )
            simple, pruned = rnnt.simple, rnnt.pruned
        consistency = attention = None
        if self.ctc is not None:
            ctc_out = self.ctc(enc)  # (B, T, V)
            ctc = ctc_loss(ctc_out.permute(1, 0, 2), padded, enc_lens, target_lengths, blank=blank)
            if cr_ctc:
                consistency = cr_ctc_consistency(ctc_out, enc_lens)
        if self.attention_decoder is not None:
            attention = self.attention_decoder.loss(
                enc, enc_lens, targets, label_smoothing=label_smoothing
            )
        if cr_ctc:  # the recipe's: each loss over both views counts as one batch's
            simple, pruned, ctc, consistency, attention = (
                None if x is None else x * 0.5
                for x in (simple, pruned, ctc, consistency, attention)
            )
        return AsrLosses(
            simple,
            pruned,
            ctc,
            num_frames=int(enc_lens.sum()) // views,
            cr_ctc=consistency,
            attention=attention,
        )

    def predict(self, tokens: Tensor, need_pad: bool = True) -> Tensor:
        """Decoder output, (B, U) token ids -> (B, U, D). See :class:`StatelessDecoder`."""
        return self._transducer().decoder(tokens, need_pad)

    def join(self, enc: Tensor, dec: Tensor, project_input: bool = True) -> Tensor:
        """Joiner logits for broadcastable encoder (..., C) and decoder (..., D) outputs ->
        (..., V); with ``project_input=False`` both are already projected to J (by
        :meth:`project_encoder` and :meth:`project_decoder`, once per frame and per context,
        which is what the searches do)."""
        return self._transducer().joiner(enc, dec, project_input)

    def project_encoder(self, enc: Tensor) -> Tensor:
        """The joiner's projection of encoder output, (..., C) -> (..., J)."""
        return self._transducer().joiner.project_encoder(enc)

    def project_decoder(self, dec: Tensor) -> Tensor:
        """The joiner's projection of decoder output, (..., D) -> (..., J)."""
        return self._transducer().joiner.project_decoder(dec)

    def predict_projected(self, contexts: Tensor) -> Tensor:
        """Projected decoder output for each row of the last ``context_size`` tokens:
        (N, context_size) -> (N, J); what a search joins with a frame."""
        return self.project_decoder(self.predict(contexts, need_pad=False)).squeeze(1)

    @property
    def context_size(self) -> int:
        """Tokens of history the transducer's (stateless) decoder sees."""
        return self._transducer().config.context_size

    def ctc_log_probs(self, enc: Tensor) -> Tensor:
        """CTC log-probabilities, (B, T, C) -> (B, T, V)."""
        if self.ctc is None:
            raise ValueError("this model has no CTC head (AsrModelConfig.ctc=False)")
        return self.ctc(enc)

    def _attention_decoder(self) -> AttentionDecoder:
        if self.attention_decoder is None:
            raise ValueError(
                "this model has no attention decoder (AsrModelConfig.attention_decoder=None)"
            )
        return self.attention_decoder

    def _transducer(self) -> TransducerHead:
        if self.transducer is None:
            raise ValueError("this model has no transducer head (AsrModelConfig.transducer=None)")
        return self.transducer

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
