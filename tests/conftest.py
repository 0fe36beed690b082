from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"

#: Tests that need only the core install (torch, numpy): marked ``core`` here, by path, and run
#: by CI's second job in a venv with nothing else (``python -m pytest -m core``). A test added
#: under one of these paths must not need an extra; that job fails if it does.
CORE_PATHS = (
    "decoding",
    "encoder",
    "losses",
    "models",
    "nn",
    "optim",
    "test_allocator.py",
    "test_core_install.py",
    "test_layering.py",
    "test_metrics.py",
    "test_schedule.py",
    "test_text.py",
)

#: Whether the extras the rest of the suite needs are installed. In a core-only venv the other
#: test modules are not even collected (they import the extras at the top); in the full venv
#: every module is collected, so nothing is hidden there.
MISSING_EXTRAS = [
    m
    for m in ("lhotse", "kaldi_native_fbank", "sentencepiece", "soundfile", "yaml", "onnx")
    if importlib.util.find_spec(m) is None
]
EXTRAS_INSTALLED = not MISSING_EXTRAS


def pytest_report_header(config: pytest.Config) -> str | None:
    if EXTRAS_INSTALLED:
        return None
    return (
        f"extras missing ({', '.join(MISSING_EXTRAS)}): only the core tests are collected "
        f"({', '.join(CORE_PATHS)}); install '.[dev]' for the rest"
    )


def _is_core(path: Path) -> bool:
    relative = path.relative_to(TESTS).parts
    return bool(relative) and relative[0] in CORE_PATHS


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if EXTRAS_INSTALLED or collection_path == TESTS or not collection_path.is_relative_to(TESTS):
        return None
    if collection_path.name == "conftest.py" or _is_core(collection_path):
        return None
    return True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_core(Path(item.path)):
            item.add_marker(pytest.mark.core)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _glibc_malloc_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``zipasr`` command makes glibc keep freed memory, process-wide (zipasr.allocator):
    tests that run it in this process leave glibc's defaults, so that one test does not change
    how memory behaves in the rest of the session (test_allocator.py sets its own)."""
    monkeypatch.setenv("ZIPASR_MALLOC", "system")


@pytest.fixture
def blockwise_everywhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Makes eval mode take its blockwise paths (``zipasr.nn.inference``) at every size, with
    blocks small enough that the fixtures' short inputs are cut into several, the last one
    partial, and the attention weights drawn from the reused buffer
    (``inference.reused_empty``) at every size. Returns counts of the blockwise calls, so a
    test can check they ran."""
    from zipasr.encoder import attention, embed
    from zipasr.nn import inference

    calls = {"attention": 0, "convnext": 0}
    weights_blockwise = attention._weights_blockwise
    residual_blockwise = embed.ConvNeXt.residual_blockwise

    def counted_weights(*args):  # type: ignore[no-untyped-def]
        calls["attention"] += 1
        return weights_blockwise(*args)

    def counted_residual(self, *args):  # type: ignore[no-untyped-def]
        calls["convnext"] += 1
        return residual_blockwise(self, *args)

    monkeypatch.setattr(attention, "BLOCKWISE_MIN_SCORES", 0)
    monkeypatch.setattr(embed, "BLOCKWISE_MIN_NUMEL", 0)
    monkeypatch.setattr(inference, "BLOCK_NUMEL", 1000)
    monkeypatch.setattr(inference, "REUSE_MIN_BYTES", 0)
    monkeypatch.setattr(attention, "_weights_blockwise", counted_weights)
    monkeypatch.setattr(embed.ConvNeXt, "residual_blockwise", counted_residual)
    yield calls
    inference.drop_reused()  # no buffer of one test left to the next
