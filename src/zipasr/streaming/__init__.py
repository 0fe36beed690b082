"""Recognising audio as it arrives: streams, and a recognizer that batches them."""

from zipasr.streaming.recognizer import StreamingConfig, StreamingRecognizer
from zipasr.streaming.stream import Stream

__all__ = ["Stream", "StreamingConfig", "StreamingRecognizer"]
