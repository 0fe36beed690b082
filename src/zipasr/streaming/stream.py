"""One audio stream being recognised: its features so far, encoder state and search state."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from zipasr.audio import FbankOptions, check_samples, online_fbank
from zipasr.audio.io import OUT_OF_RANGE_PEAK
from zipasr.decoding.hypothesis import Hypothesis
from zipasr.decoding.methods import SearchState, result
from zipasr.encoder.state import EncoderState
from zipasr.frontend import (
    FBANK_PAD_VALUE,
    NUM_MEL_BINS,
    OUTPUT_FRAME_SHIFT_S,
    SAMPLE_RATE,
    encoder_frames,
)


class Stream:
    """Audio in (pieces of any size), tokens out (as chunks become complete).

    Created by :meth:`StreamingRecognizer.create_stream`. Feed 16 kHz float samples in [-1, 1]
    with :meth:`accept_waveform`; call :meth:`input_finished` at the end so that the last
    partial chunk is padded and decoded. :attr:`result` is the hypothesis so far.
    """

    def __init__(
        self,
        state: EncoderState,
        search: SearchState,
        options: FbankOptions | None = None,
    ) -> None:
        options = options or FbankOptions()
        self.fbank = online_fbank(options)
        self.num_bins = options.num_mel_bins
        self.state = state
        self.search = search
        #: Feature frames (100 Hz) the next window starts at.
        self.feature_offset = 0
        #: Encoder output frames (25 Hz) decoded so far.
        self.output_frames = 0
        #: Where the current segment starts (after the last :meth:`StreamingRecognizer.reset`):
        #: tokens of the whole stream's hypothesis before it, and its first output frame.
        self.segment_token = 0
        self.segment_frame = 0
        #: Segments finished by resets (their hypotheses, frames from the stream's start).
        self.segments = 0
        self.finished = False
        #: Whether the next out-of-range piece is warned about (once per stream: set False
        #: after the first warning, or beforehand when the audio was checked already).
        self.warn_out_of_range = True

    def accept_waveform(self, samples: np.ndarray | Tensor, sample_rate: int = SAMPLE_RATE) -> None:
        """Appends audio: (S,) samples at 16 kHz, float in [-1, 1] or int16 / int32 PCM (scaled
        to [-1, 1]).

        A piece that is rejected (NaN or Inf samples, wrong shape or rate, an ambiguous integer
        type) raises :class:`zipasr.audio.AudioError` or ValueError before anything of it is
        used: the stream is unchanged and takes the next piece as if the bad one never came.
        Float samples far outside [-1, 1] are accepted with a warning (see
        :func:`zipasr.audio.check_samples`).
        """
        if self.finished:
            raise ValueError("accept_waveform after input_finished; create a new stream")
        if sample_rate != SAMPLE_RATE:
            raise ValueError(
                f"streams take {SAMPLE_RATE} Hz audio, got {sample_rate} Hz; resample first "
                "(e.g. zipasr.audio.to_mono_16k)"
            )
        data = check_samples(samples, where="stream", warn=self.warn_out_of_range)
        if self.warn_out_of_range and data.size and np.abs(data).max() > OUT_OF_RANGE_PEAK:
            self.warn_out_of_range = False
        if data.ndim != 1:
            raise ValueError(f"samples must be 1-D (mono), got shape {data.shape}")
        self.fbank.accept_waveform(SAMPLE_RATE, data)

    def input_finished(self) -> None:
        """No more audio: the remaining frames will be decoded with end padding."""
        if not self.finished:
            self.fbank.input_finished()
            self.finished = True

    @property
    def feature_frames(self) -> int:
        return int(self.fbank.num_frames_ready)

    @property
    def total_output_frames(self) -> int:
        """Encoder output frames the whole utterance has (known once input is finished)."""
        return encoder_frames(self.feature_frames)

    def window_ready(self, window: int) -> bool:
        """Whether a full window of ``window`` feature frames is available (or, at the end,
        whether frames remain to decode)."""
        if self.feature_frames >= self.feature_offset + window:
            return True
        return self.finished and self.output_frames < self.total_output_frames

    def take_window(self, window: int, advance: int) -> Tensor:
        """The next (window, 80) features, padded with log(1e-10) past the end of the audio;
        moves the offset forward by ``advance`` frames."""
        end = min(self.feature_offset + window, self.feature_frames)
        frames = [self.fbank.get_frame(i) for i in range(self.feature_offset, end)]
        feats = torch.full(
            (window, self.fbank.get_frame(0).shape[0] if frames else NUM_MEL_BINS), FBANK_PAD_VALUE
        )
        if frames:
            feats[: len(frames)] = torch.from_numpy(np.stack(frames))
        self.feature_offset += advance
        return feats

    @property
    def whole(self) -> Hypothesis:
        """The best hypothesis of the whole stream, every segment included."""
        return result(self.search)

    @property
    def result(self) -> Hypothesis:
        """The current segment's hypothesis (since the last reset); its frames count from the
        start of the stream."""
        hyp = self.whole
        if self.segment_token == 0:
            return hyp
        k = self.segment_token
        return Hypothesis(
            hyp.tokens[k:], hyp.frames[k:], hyp.score, token_log_probs=hyp.token_log_probs[k:]
        )

    def trailing_silence_s(self) -> float:
        """Seconds since the last emitted token of the segment (or since its start)."""
        frames = self.result.frames
        last = frames[-1] + 1 if frames else self.segment_frame
        return (self.output_frames - last) * OUTPUT_FRAME_SHIFT_S

    def segment_s(self) -> float:
        """Seconds of audio decoded in the current segment."""
        return (self.output_frames - self.segment_frame) * OUTPUT_FRAME_SHIFT_S
