"""Recognising audio as it arrives: streams, and a recognizer that batches them."""

from zipasr.streaming.recognizer import (
    DEFAULT_ENDPOINT_RULES,
    EndpointRule,
    StreamingConfig,
    StreamingRecognizer,
)
from zipasr.streaming.stream import Stream

__all__ = [
    "DEFAULT_ENDPOINT_RULES",
    "EndpointRule",
    "Stream",
    "StreamingConfig",
    "StreamingRecognizer",
]
