"""Re-readable streams of cuts with a resumable position: what the sampler reads from.

A :class:`CutSource` is read from the start any number of times (once per epoch), and each
reading (:meth:`CutSource.open`) can say where it is (``reader.state()``, plain Python types)
and be reopened there later without reading what came before. That is what lets a mid-epoch
resume of a multi-million-cut manifest cost the same as one of ten cuts:

* :class:`ListSource`: cuts already in memory; the state is an index.
* :class:`JsonlSource`: one cut per line of a JSONL(.gz) file, parsed as it is read (nothing
  is listed); the state is the byte offset and the line number of the next line. A ``.gz``
  file is decompressed (not parsed) up to the offset when reopened.
* :class:`MixedSource`: several sources mixed with weights, draw by draw, exactly as lhotse's
  ``CutSet.mux`` does (same seed, same order; tested), with the draws' RNG in the state.
* :class:`ScreenedSource`: a source whose cuts pass a check (the trainer's guardrails).
* :class:`IterableSource`: any other iterable of cuts (a lazy lhotse CutSet); reopening it
  skips the cuts before the position, so its restore cost grows with the position.
"""

from __future__ import annotations

import gzip
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from lhotse.cut import Cut

from zipasr.data.guardrails import Skip, SkipReport


class CutReader(Iterator[Cut]):
    """One reading of a :class:`CutSource`; :meth:`state` is where the next cut comes from."""

    @abstractmethod
    def state(self) -> Any:
        """Plain Python data (survives JSON and ``torch.load(weights_only=True)``)."""


class CutSource(ABC):
    """A stream of cuts that can be read again, from the start or from a saved state."""

    #: Shown in errors and logs.
    name: str = "cuts"

    @abstractmethod
    def open(self, state: Any = None, epoch: int = 0) -> CutReader:
        """A reader from the start (``state`` None) or from a reader's ``state()``. ``epoch``
        reseeds the sources that draw at random (a mixture)."""

    def __iter__(self) -> Iterator[Cut]:
        return self.open()


class ListSource(CutSource):
    """Cuts held in memory (an eager CutSet, a list)."""

    def __init__(self, cuts: Iterable[Cut], name: str = "cuts") -> None:
        self.cuts = list(cuts)
        self.name = name

    def __len__(self) -> int:
        return len(self.cuts)

    def open(self, state: Any = None, epoch: int = 0) -> CutReader:
        return _ListReader(self.cuts, int(state or 0))


class _ListReader(CutReader):
    def __init__(self, cuts: list[Cut], index: int) -> None:
        self.cuts, self.index = cuts, index

    def __next__(self) -> Cut:
        if self.index >= len(self.cuts):
            raise StopIteration
        self.index += 1
        return self.cuts[self.index - 1]

    def state(self) -> int:
        return self.index


class IterableSource(CutSource):
    """Any re-iterable collection of cuts, e.g. a lazy lhotse CutSet. Its state counts the cuts
    read; reopening skips that many (cost proportional to the position)."""

    def __init__(self, cuts: Iterable[Cut], name: str = "cuts") -> None:
        self.cuts, self.name = cuts, name

    def open(self, state: Any = None, epoch: int = 0) -> CutReader:
        reader = _CountingReader(iter(self.cuts))
        for _ in range(int(state or 0)):
            next(reader)
        return reader


class _CountingReader(CutReader):
    def __init__(self, it: Iterator[Cut]) -> None:
        self.it, self.count = it, 0

    def __next__(self) -> Cut:
        cut = next(self.it)
        self.count += 1
        return cut

    def state(self) -> int:
        return self.count


#: Turns one JSON object of a manifest into a cut, or a Skip for an utterance to leave out;
#: raises ValueError (naming the file and line) for a record it cannot read. Args: the
#: object, its line number.
LineParser = Callable[[dict[str, Any], int], "Cut | Skip"]


class JsonlSource(CutSource):
    """One cut per line of a JSONL file (``.gz`` too), parsed while reading.

    Args:
        path: the manifest.
        parse: turns a line's JSON object into a cut or a :class:`Skip` (see
            :mod:`zipasr.data.manifests` for the formats).
        report: where skips go; each line's skip is counted once however often it is read.
    """

    def __init__(self, path: str | Path, parse: LineParser, report: SkipReport | None = None):
        self.path = Path(path)
        self.name = str(self.path)
        self.parse = parse
        self.report = report
        self._counted_to = -1  # byte offset up to which skips were reported

    def open(self, state: Any = None, epoch: int = 0) -> CutReader:
        offset, line = (state["offset"], state["line"]) if state else (0, 0)
        return _JsonlReader(self, offset, line)

    def _skip(self, skip: Skip, offset: int) -> None:
        if self.report is not None and offset > self._counted_to:
            self.report.add(skip)
            self._counted_to = offset


def open_text(path: Path) -> IO[bytes]:
    """A manifest's bytes, decompressed when its name ends in ``.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def json_object(path: Path, line_no: int, raw: bytes) -> dict[str, Any] | None:
    """The JSON object of one manifest line, None for a blank line; ValueError naming the file
    and line for anything else."""
    import json

    try:
        text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}:{line_no}: not UTF-8 text ({e.reason} at column {e.start + 1}); "
            "save the manifest as UTF-8"
        ) from None
    if not text.strip():
        return None
    try:
        item = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}:{line_no}: not valid JSON ({e.msg} at column {e.colno}); a JSONL "
            "manifest holds one JSON object per line"
        ) from None
    if not isinstance(item, dict):
        raise ValueError(
            f"{path}:{line_no}: a JSON {type(item).__name__}, not an object; each line "
            'must be an object such as {"audio": "a.wav", "text": "..."}'
        )
    return item


class _JsonlReader(CutReader):
    def __init__(self, source: JsonlSource, offset: int, line: int) -> None:
        self.source = source
        self.offset, self.line = offset, line
        self.file: IO[bytes] | None = open_text(source.path)
        if offset:
            self.file.seek(offset)

    def __next__(self) -> Cut:
        while self.file is not None:
            try:
                raw = self.file.readline()
            except (OSError, EOFError) as e:  # a truncated or corrupt .gz
                raise ValueError(
                    f"{self.source.path}:{self.line + 1}: cannot read the file "
                    f"({type(e).__name__}: {e})"
                ) from None
            if not raw:
                self.file.close()
                self.file = None
                break
            self.offset += len(raw)
            self.line += 1
            item = json_object(self.source.path, self.line, raw)
            if item is None:
                continue
            out = self.source.parse(item, self.line)
            if isinstance(out, Skip):
                self.source._skip(out, self.offset)
                continue
            return out
        raise StopIteration

    def __del__(self) -> None:
        if getattr(self, "file", None) is not None:
            self.file.close()  # type: ignore[union-attr]

    def state(self) -> dict[str, int]:
        return {"offset": self.offset, "line": self.line}


class ScreenedSource(CutSource):
    """The cuts of ``inner`` that ``check`` passes (``check`` returns None for a cut to keep, or
    the :class:`Skip` to report); each position's skip is reported once."""

    def __init__(
        self, inner: CutSource, check: Callable[[Cut], Skip | None], report: SkipReport
    ) -> None:
        self.inner, self.check, self.report = inner, check, report
        self.name = inner.name
        self._seen: set[str] = set()

    def open(self, state: Any = None, epoch: int = 0) -> CutReader:
        return _ScreenedReader(self, self.inner.open(state, epoch))


class _ScreenedReader(CutReader):
    def __init__(self, source: ScreenedSource, inner: CutReader) -> None:
        self.source, self.inner = source, inner

    def __next__(self) -> Cut:
        while True:
            cut = next(self.inner)
            skip = self.source.check(cut)
            if skip is None:
                return cut
            if skip.cut_id not in self.source._seen:  # skipped cuts only: a small set
                self.source._seen.add(skip.cut_id)
                self.source.report.add(skip)

    def state(self) -> Any:
        return self.inner.state()


class MixedSource(CutSource):
    """Several sources mixed with weights: lhotse's ``CutSet.mux``, resumable.

    Each draw picks a source at random with probability proportional to its weight among those
    not yet exhausted and yields its next cut. A source that runs out leaves the mixture (the
    rest share the draws in proportion to their weights), unless it ``repeats``: it then starts
    over (lhotse's ``CutSet.repeat()``), so its share holds; the reading ends when every
    non-repeating source has run out. Epoch ``e`` draws with seed ``seed + e``; for the same
    seed the order is exactly ``CutSet.mux(*sources, weights=weights, seed=seed)``'s.

    Args:
        sources: two or more.
        weights: one positive weight per source: the expected share of cuts it supplies.
        repeats: per source, whether it starts over when it runs out (default: none).
    """

    def __init__(
        self,
        sources: Sequence[CutSource],
        weights: Sequence[float],
        repeats: Sequence[bool] | None = None,
        seed: int = 0,
    ) -> None:
        repeats = list(repeats) if repeats is not None else [False] * len(sources)
        if len(sources) < 1 or len(weights) != len(sources) or len(repeats) != len(sources):
            raise ValueError(
                f"{len(sources)} sources, {len(weights)} weights and {len(repeats)} repeat "
                "flags: give one weight (and repeat flag) per source"
            )
        if any(not w > 0 for w in weights):
            raise ValueError(f"weights={list(weights)}: every weight must be positive")
        if all(repeats):
            raise ValueError(
                "every source repeats, so an epoch would never end; leave at least one source "
                "with repeat: false"
            )
        self.sources = list(sources)
        self.weights = [float(w) for w in weights]
        self.repeats = repeats
        self.seed = seed
        self.name = " + ".join(
            f"{s.name} (weight {w:g}{', repeating' if r else ''})"
            for s, w, r in zip(self.sources, self.weights, self.repeats)
        )

    def open(self, state: Any = None, epoch: int = 0) -> CutReader:
        return _MixedReader(self, state, epoch)


class _MixedReader(CutReader):
    def __init__(self, mix: MixedSource, state: Any, epoch: int) -> None:
        self.mix = mix
        self.epoch = epoch
        if state is None:
            self.rng = random.Random(mix.seed + epoch)
            self.exhausted = [False] * len(mix.sources)
            self.readers = [s.open(None, epoch) for s in mix.sources]
        else:
            self.rng = random.Random()
            self.rng.setstate(as_rng_state(state["rng"]))
            self.exhausted = list(state["exhausted"])
            self.readers = [
                s.open(st, epoch) for s, st in zip(mix.sources, state["sources"], strict=True)
            ]

    def __next__(self) -> Cut:
        mix = self.mix
        while not all(e or r for e, r in zip(self.exhausted, mix.repeats)):
            active = [i for i, e in enumerate(self.exhausted) if not e]
            weights = [mix.weights[i] for i in active]
            i = self.rng.choices(active, weights=weights, k=1)[0]
            try:
                return next(self.readers[i])
            except StopIteration:
                if not mix.repeats[i]:
                    self.exhausted[i] = True
                    continue
            self.readers[i] = mix.sources[i].open(None, self.epoch)  # a repeating source
            try:
                return next(self.readers[i])
            except StopIteration:
                raise ValueError(f"{mix.sources[i].name} holds no cut to repeat") from None
        raise StopIteration

    def state(self) -> dict[str, Any]:
        return {
            "rng": self.rng.getstate(),
            "exhausted": list(self.exhausted),
            "sources": [r.state() for r in self.readers],
        }


def as_rng_state(state: Any) -> tuple:
    """random.Random states survive a JSON/YAML round trip as lists; setstate needs tuples."""
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
