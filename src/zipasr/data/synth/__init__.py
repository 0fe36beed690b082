"""The embedded corpus: English speech synthesised locally with espeak-ng (pip-only).

``build_corpus(out_dir, hours, seed)`` writes train/dev/test WAVs and JSONL manifests with
disjoint speakers and sentences; ``zipasr synth --out DIR --hours H`` is its command line.
``training_text(count)`` draws more sentences of the training split, for a language model.
"""

from zipasr.data.synth.corpus import (
    CorpusStats,
    build_corpus,
    read_corpus_settings,
    training_text,
)

__all__ = ["CorpusStats", "build_corpus", "read_corpus_settings", "training_text"]
