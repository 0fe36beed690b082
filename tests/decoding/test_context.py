"""The context graph (hotwords): hand-checked cases, and the reference's scores on random
phrase sets (fixture by tools/make_context_graph_fixtures.py, from zipformer==0.1.3)."""

import json
from pathlib import Path

import pytest

from zipasr.decoding.context import ContextGraph, load_hotwords, parse_hotwords

FIXTURE = Path(__file__).parent.parent / "fixtures" / "context_graph.json"


def run(graph: ContextGraph, text: str, strict: bool) -> float:
    state, total = graph.root, 0.0
    for char in text:
        bonus, state, _ = graph.forward(state, ord(char), strict)
        total += bonus
    return total + graph.finalize(state)


def letters(*words: str) -> list[list[int]]:
    return [[ord(c) for c in w] for w in words]


def test_hand_checked_scores():
    graph = ContextGraph(letters("HE", "SHE", "HERS"), score=1.0)
    assert run(graph, "HE", strict=True) == 2.0  # HE: two matched tokens
    assert run(graph, "HEX", strict=True) == 2.0  # HE is kept; X does not take it back
    assert run(graph, "HER", strict=True) == 2.0  # HER is unfinished HERS: its R is taken back
    assert run(graph, "HERS", strict=True) == 6.0  # HE (2) on the way, then HERS (4)
    assert run(graph, "H", strict=True) == 0.0  # unfinished: its bonus is taken back
    assert run(graph, "XYZ", strict=True) == 0.0
    # SHE: S, H, E earn 3 and completing SHE also completes its suffix HE (+2 more).
    assert run(graph, "SHE", strict=True) == 5.0
    # Not strict: a completed phrase returns to the root, counting the longest one only.
    assert run(graph, "SHE", strict=False) == 3.0


def test_partial_match_bonus_is_cancelled_step_by_step():
    graph = ContextGraph(letters("ABC"), score=2.0)
    steps = []
    state = graph.root
    for char in "ABX":
        bonus, state, matched = graph.forward(state, ord(char))
        steps.append(bonus)
        assert matched is None
    assert steps == [2.0, 2.0, -4.0]
    assert state == graph.root


def test_own_scores_and_shared_prefixes():
    graph = ContextGraph(letters("AB", "AC"), score=1.0, scores=[3.0, 0.0])
    # The shared A takes the larger bonus (3); C gets the default 1.
    assert run(graph, "AB", strict=True) == 6.0
    assert run(graph, "AC", strict=True) == 4.0


def test_matches_the_reference_on_random_phrase_sets():
    data = json.loads(FIXTURE.read_text())
    assert data["source"] == "zipformer==0.1.3"
    checked = 0
    for case in data["cases"]:
        texts = [f"p{i}" for i in range(len(case["phrases"]))]
        graph = ContextGraph(case["phrases"], case["default"], scores=case["scores"], texts=texts)
        for run_ in case["runs"]:
            state = graph.root
            for token, (bonus, phrase) in zip(run_["tokens"], run_["steps"]):
                got, state, matched = graph.forward(state, token, run_["strict"])
                assert got == pytest.approx(bonus, abs=1e-9)
                assert (graph.phrase(matched) if matched is not None else None) == phrase
                checked += 1
            assert graph.finalize(state) == pytest.approx(run_["final"], abs=1e-9)
    assert checked > 1000


def test_hotwords_file_format(tmp_path):
    assert parse_hotwords(["HELLO WORLD", "", "ZIP ASR :2.5", "  A :0 "]) == [
        ("HELLO WORLD", 0.0),
        ("ZIP ASR", 2.5),
        ("A", 0.0),
    ]
    with pytest.raises(ValueError, match="not a score"):
        parse_hotwords(["HELLO :loud"])
    path = tmp_path / "hot.txt"
    path.write_text("AB :3\nB\n")
    graph = load_hotwords(path, lambda text: [ord(c) for c in text], score=1.0)
    assert run(graph, "AB", strict=False) == 6.0
    path.write_text("\n")
    with pytest.raises(ValueError, match="no hotwords"):
        load_hotwords(path, lambda text: [ord(c) for c in text])
