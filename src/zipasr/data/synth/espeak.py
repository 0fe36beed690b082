"""A small ctypes binding to libespeak-ng as bundled by the ``espeakng-loader`` wheel.

Only what the corpus builder needs: pick a voice (``"en-us+m3"`` = accent + variant), set rate
and pitch, synthesise text to 16-bit samples in memory. libespeak-ng keeps global state, so there
is one :class:`Espeak` per process.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: espeak_Synth returns when the audio is done
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3  # espeak_PARAMETER values
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Espeak:
    """The process's espeak-ng engine (created on first use by :meth:`get`)."""

    _instance: Espeak | None = None

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.data_path = Path(espeakng_loader.get_data_path())
        self.lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        rate = self.lib.espeak_Initialize(_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {self.data_path}")
        self.sample_rate: int = rate
        self._chunks: list[np.ndarray] = []
        self._error: BaseException | None = None
        self._callback = _CALLBACK(self._collect)  # kept alive: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> Espeak:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _collect(self, samples, num_samples: int, events) -> int:
        # An exception cannot cross the C library: ctypes would print and drop it, and the
        # synthesis would go on without these samples. It is kept, synthesis is aborted (a
        # return of 1), and synthesize() raises it. Ctrl-C is held off by _ctrl_c_deferred.
        if self._error is not None:
            return 1
        try:
            if samples and num_samples > 0:
                self._chunks.append(np.ctypeslib.as_array(samples, shape=(num_samples,)).copy())
        except BaseException as e:
            self._error = e
            return 1
        return 0  # 0 = continue synthesis

    @contextlib.contextmanager
    def _ctrl_c_deferred(self) -> Iterator[None]:
        """While the library synthesises, Ctrl-C only records a KeyboardInterrupt, which aborts
        the synthesis at the next block and is raised when the library returns. Python would
        otherwise raise it in the callback the library calls (often on its first line, before
        any handler of ours), where ctypes prints and drops it. Only where Ctrl-C raises
        KeyboardInterrupt (Python's own handler) and only in the main thread, which alone
        receives signals."""
        if threading.current_thread() is not threading.main_thread() or (
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            yield
            return

        def record(signum: int, frame: object) -> None:
            if self._error is None:
                self._error = KeyboardInterrupt()

        signal.signal(signal.SIGINT, record)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def variants(self) -> list[str]:
        """Names of the bundled voice variants (``m3``, ``f2``, ``klatt`` ...)."""
        return sorted(p.name for p in (self.data_path / "voices" / "!v").iterdir())

    def synthesize(
        self, text: str, voice: str, words_per_minute: int, pitch: int, seed: int = 0
    ) -> np.ndarray:
        """Speech for ``text`` as float32 samples in [-1, 1] at :attr:`sample_rate` Hz.

        Args:
            voice: ``accent+variant``, e.g. ``"en-us+m3"``.
            words_per_minute: speaking rate (espeak's range 80-450).
            pitch: base pitch, 0-100 (espeak's default 50).
            seed: for espeak's random generator. libespeak-ng also carries other synthesis
                state (pitch flutter phase) from call to call, which no API resets; the same
                sequence of calls in a fresh process gives the same samples.
        """
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"voice={voice!r} is not an espeak-ng voice; see Espeak.variants()")
        self.lib.espeak_SetParameter(_RATE, int(words_per_minute), 0)
        self.lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        self.lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        data = text.encode()
        self._chunks, self._error = [], None
        with self._ctrl_c_deferred():
            self.lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self.lib.espeak_Synchronize()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0
