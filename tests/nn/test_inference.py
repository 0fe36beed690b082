"""zipasr.nn.inference.reused_empty: one buffer per thread, reused only when nothing holds it."""

from __future__ import annotations

import threading

import pytest
import torch

from zipasr.nn import inference
from zipasr.nn.inference import drop_reused, reused_empty


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    monkeypatch.setattr(inference, "REUSE_MIN_BYTES", 1024)
    drop_reused()
    yield
    drop_reused()


def _memory(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def test_the_memory_is_reused_once_nothing_holds_it():
    like = torch.zeros(1)
    first = reused_empty((16, 32), like)
    address = _memory(first)
    del first
    second = reused_empty((8, 64), like)
    assert second.shape == (8, 64) and second.is_contiguous()
    assert _memory(second) == address
    del second
    smaller = reused_empty((4, 100), like)  # fewer elements: a view of the same buffer
    assert _memory(smaller) == address


def test_small_tensors_are_always_new():
    like = torch.zeros(1)
    big = reused_empty((16, 32), like)
    address = _memory(big)
    del big
    small = reused_empty((4, 4), like)  # 64 bytes, under the threshold
    assert _memory(small) != address
    assert _memory(reused_empty((16, 32), like)) == address  # and the buffer stayed


def test_a_tensor_still_held_keeps_its_values():
    like = torch.zeros(1)
    first = reused_empty((16, 32), like).fill_(1.0)
    row = first[3]  # a view kept by the caller (a forward hook, say)
    del first
    second = reused_empty((16, 32), like).fill_(2.0)
    assert _memory(second) != _memory(row)
    assert bool((row == 1.0).all())
    del row, second
    assert _memory(reused_empty((16, 32), like)) != 0  # still serves


def test_a_larger_tensor_or_another_dtype_gets_a_new_buffer():
    like = torch.zeros(1)
    address = _memory(reused_empty((16, 32), like))
    larger = reused_empty((32, 32), like)
    assert larger.shape == (32, 32) and _memory(larger) != address
    del larger
    doubles = reused_empty((16, 32), like.double())
    assert doubles.dtype == torch.float64


def test_a_buffer_made_in_inference_mode_is_not_written_outside_it():
    like = torch.zeros(1)
    with torch.inference_mode():
        inside = reused_empty((16, 32), like)
        assert inside.is_inference()
        del inside
    with torch.no_grad():
        outside = reused_empty((16, 32), like)
        assert not outside.is_inference()
        outside.fill_(0.0)  # an in-place write on an inference tensor here would raise


def test_each_thread_has_its_own_buffer():
    like = torch.zeros(1)
    mine = reused_empty((16, 32), like)
    address = _memory(mine)
    del mine
    theirs: list[int] = []
    worker = threading.Thread(target=lambda: theirs.append(_memory(reused_empty((16, 32), like))))
    worker.start()
    worker.join()
    assert theirs[0] != address
    assert _memory(reused_empty((16, 32), like)) == address


def test_drop_reused_lets_the_buffer_go():
    like = torch.zeros(1)
    first = reused_empty((16, 32), like)
    storage = first.untyped_storage()
    del first
    drop_reused()
    assert torch._C._storage_Use_Count(storage._cdata) == 1  # only this test's reference
