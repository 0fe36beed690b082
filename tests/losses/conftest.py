"""Shared set-up for the loss tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "losses" / "k2_reference.pt"


@pytest.fixture(scope="session")
def k2_reference() -> dict[str, Any]:
    """k2's outputs recorded by tools/make_loss_fixtures.py."""
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread is faster than waiting for a busy second core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
