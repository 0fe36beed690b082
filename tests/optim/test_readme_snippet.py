"""The README example (src/zipasr/optim/README_SNIPPET.md) runs as written."""

from __future__ import annotations

import re
from pathlib import Path

SNIPPET = Path(__file__).resolve().parents[2] / "src" / "zipasr" / "optim" / "README_SNIPPET.md"


def test_readme_snippet_runs_and_trains():
    blocks = re.findall(r"```python\n(.*?)```", SNIPPET.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1
    namespace: dict = {}
    exec(compile(blocks[0], str(SNIPPET), "exec"), namespace)
    assert namespace["batch_idx"] == 100
    assert namespace["scheduler"].get_last_lr()[0] < 0.045
    assert namespace["loss"].item() < 1.5
