"""zipasr.nn.inference.reused_empty: one buffer per thread, reused only when nothing holds it."""

from __future__ import annotations

import threading

import pytest
import torch

from zipasr.nn import inference
from zipasr.nn.inference import drop_reused, reused_empty

pytestmark = pytest.mark.skipif(
    not hasattr(torch._C, "_storage_Use_Count"),
    reason="this torch cannot count a storage's holders",
)

LIKE = torch.zeros(1)


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    monkeypatch.setattr(inference, "REUSE_MIN_BYTES", 1024)
    drop_reused()
    yield
    drop_reused()


def _buffer() -> torch.Tensor | None:
    return getattr(inference._reused, "buffer", None)


def test_the_buffer_is_reused_once_nothing_holds_it():
    first = reused_empty((16, 32), LIKE)
    buffer = _buffer()
    assert buffer is not None and first._base is buffer
    del first
    second = reused_empty((8, 64), LIKE)
    assert second.shape == (8, 64) and second.is_contiguous()
    assert second._base is buffer
    del second
    smaller = reused_empty((4, 100), LIKE)  # fewer elements: a view of the same buffer
    assert smaller._base is buffer


def test_small_tensors_are_always_new():
    big = reused_empty((16, 32), LIKE)
    buffer = _buffer()
    del big
    small = reused_empty((4, 4), LIKE)  # 64 bytes, under the threshold
    assert small._base is None
    assert reused_empty((16, 32), LIKE)._base is buffer  # and the buffer stayed


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
@pytest.mark.parametrize(
    "keep",
    [
        lambda t: t[3],  # a view
        lambda t: t.untyped_storage(),  # its storage object
        lambda t: t.storage(),  # the typed one
    ],
    ids=["view", "untyped_storage", "storage"],
)
def test_memory_still_held_keeps_its_values(keep):
    first = reused_empty((16, 32), LIKE).fill_(1.0)
    buffer = _buffer()
    kept = keep(first)
    del first
    second = reused_empty((16, 32), LIKE).fill_(2.0)
    assert second._base is not buffer
    if not isinstance(kept, torch.Tensor):  # a storage: its values through a tensor
        kept = torch.empty(0).set_(kept)
    assert bool((kept == 1.0).all())


def test_a_buffer_moved_to_shared_memory_is_not_reused():
    first = reused_empty((16, 32), LIKE)
    buffer = _buffer()
    first.share_memory_()  # as pickling it for another process does
    del first
    assert reused_empty((16, 32), LIKE)._base is not buffer


def test_a_larger_tensor_or_another_dtype_gets_a_new_buffer():
    reused_empty((16, 32), LIKE)
    buffer = _buffer()
    larger = reused_empty((32, 32), LIKE)
    assert larger.shape == (32, 32) and larger._base is not buffer
    assert larger._base is _buffer()
    del larger
    doubles = reused_empty((16, 32), LIKE.double())
    assert doubles.dtype == torch.float64


def test_a_buffer_made_in_inference_mode_is_not_written_outside_it():
    with torch.inference_mode():
        inside = reused_empty((16, 32), LIKE)
        assert inside.is_inference()
        del inside
    with torch.no_grad():
        outside = reused_empty((16, 32), LIKE)
        assert not outside.is_inference()
        outside.fill_(0.0)  # an in-place write on an inference tensor here would raise


def test_each_thread_has_its_own_buffer():
    reused_empty((16, 32), LIKE)
    mine = _buffer()
    theirs: list[torch.Tensor | None] = []

    def work() -> None:
        reused_empty((16, 32), LIKE)
        theirs.append(_buffer())

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert theirs[0] is not None and theirs[0] is not mine
    assert reused_empty((16, 32), LIKE)._base is mine


def test_drop_reused_lets_the_buffer_go():
    reused_empty((16, 32), LIKE)
    ref = torch.multiprocessing.reductions.StorageWeakRef(_buffer().untyped_storage())
    drop_reused()
    assert _buffer() is None and ref.expired()
