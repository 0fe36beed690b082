"""Long recordings: voice-activity detection, segmentation at pauses, merging of overlapping
windows, and subtitles (SRT, WebVTT). :func:`zipasr.recognize.transcribe_files` uses them to
recognise a file of any length in memory bounded by the segment length."""

from zipasr.files import write_text_atomically
from zipasr.longform.merge import TimedTokens, merge_overlap
from zipasr.longform.segmenter import (
    AudioSegment,
    Segmenter,
    SegmenterOptions,
    Span,
    segment_audio,
)
from zipasr.longform.subtitles import cues, to_srt, to_vtt
from zipasr.longform.transcript import Segment, Transcript, Word, make_segment, words_of
from zipasr.longform.vad import VAD_FRAME_RATE, EnergyVad, Vad

__all__ = [
    "VAD_FRAME_RATE",
    "AudioSegment",
    "EnergyVad",
    "Segment",
    "Segmenter",
    "SegmenterOptions",
    "Span",
    "TimedTokens",
    "Transcript",
    "Vad",
    "Word",
    "cues",
    "make_segment",
    "merge_overlap",
    "segment_audio",
    "to_srt",
    "to_vtt",
    "words_of",
    "write_text_atomically",
]
