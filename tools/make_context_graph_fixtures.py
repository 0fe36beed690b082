"""Writes tests/fixtures/context_graph.json: the reference context graph's scores (PyPI
``zipformer==0.1.3``, ``zipformer.decode.context_graph``) on random phrase sets and random
token streams, for tests/decoding/test_context.py.

Run with the reference venv (see tools/reference.py):

    /tmp/refvenv/bin/python tools/make_context_graph_fixtures.py

Each case: phrases (token ids), their own scores (0 = default), the default score, and for some
token streams in both modes the per-token (bonus, matched phrase index or -1) and the
finalize bonus at the end.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from reference import import_reference  # noqa: E402

OUT = Path(__file__).parent.parent / "tests" / "fixtures" / "context_graph.json"


def main() -> None:
    module = import_reference("decode.context_graph")
    rng = random.Random(17)
    cases = []
    for _ in range(40):
        vocab = rng.randint(2, 6)  # few tokens: many shared prefixes and partial matches
        phrases = [
            [rng.randrange(vocab) for _ in range(rng.randint(1, 5))]
            for _ in range(rng.randint(1, 8))
        ]
        own = [rng.choice([0.0, 0.0, round(rng.uniform(0.1, 4.0), 3)]) for _ in phrases]
        default = round(rng.uniform(0.5, 3.0), 3)
        streams = [[rng.randrange(vocab + 1) for _ in range(rng.randint(1, 25))] for _ in range(6)]
        texts = [f"p{i}" for i in range(len(phrases))]
        runs = []
        for strict in (True, False):
            graph = module.ContextGraph(context_score=default)
            graph.build(token_ids=phrases, phrases=texts, scores=own)
            for stream in streams:
                state, steps = graph.root, []
                for token in stream:
                    bonus, state, matched = graph.forward_one_step(state, token, strict)
                    steps.append([bonus, matched.phrase if matched is not None else None])
                final, _ = graph.finalize(state)
                runs.append({"strict": strict, "tokens": stream, "steps": steps, "final": final})
        cases.append({"phrases": phrases, "scores": own, "default": default, "runs": runs})
    text = json.dumps({"source": "zipformer==0.1.3", "cases": cases}, indent=None)
    fd, tmp = tempfile.mkstemp(dir=OUT.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, OUT)
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
