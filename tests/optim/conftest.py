"""Shared fixtures for the optimizer tests: the reference run and the toy problem behind it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "optim" / "reference_run.pt"
TOOL = ROOT / "tools" / "make_optim_fixtures.py"


@pytest.fixture(scope="session")
def toy() -> ModuleType:
    """tools/make_optim_fixtures.py, for its toy parameters and gradient generator."""
    spec = importlib.util.spec_from_file_location("make_optim_fixtures", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference() -> dict[str, Any]:
    """The reference run recorded by tools/make_optim_fixtures.py."""
    return torch.load(FIXTURE, weights_only=False)


@pytest.fixture(autouse=True)
def one_thread():
    """Runs each test on one intra-op thread: these tiny tensors gain nothing from more, and on
    a busy shared machine waiting for a second thread made the tests 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
