"""zipasr.allocator: glibc keeps freed memory, so a tensor allocated again costs no page faults."""

from __future__ import annotations

import resource

import pytest
import torch

from zipasr import allocator

glibc_only = pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc's mallopt")


def _faults_of_a_fresh_tensor(numel: int) -> int:
    """Minor page faults while a new tensor of ``numel`` float32 is filled (and then freed)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(numel).fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc_only
def test_kept_memory_is_reused_without_page_faults():
    numel = 16 << 20  # 64 MiB: above glibc's largest mmap threshold
    pages = numel * 4 // 4096
    try:
        assert allocator.release_freed_memory()
        _faults_of_a_fresh_tensor(numel)
        assert _faults_of_a_fresh_tensor(numel) > pages // 2, "mmap'ed afresh every time"
        assert allocator.keep_freed_memory() and allocator.keeping_freed_memory()
        for _ in range(3):  # the heap grows (twice where small allocations took the hole)
            _faults_of_a_fresh_tensor(numel)
        faults = [_faults_of_a_fresh_tensor(numel) for _ in range(3)]
        assert max(faults) < pages // 100, f"reused, no faults: {faults}"
    finally:
        assert allocator.release_freed_memory()
    assert not allocator.keeping_freed_memory()
    _faults_of_a_fresh_tensor(numel)
    assert _faults_of_a_fresh_tensor(numel) > pages // 2


def test_the_environment_variable_chooses(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    assert allocator.keep_freed_memory_unless_disabled() and calls == [1]
    monkeypatch.setenv(allocator.ENV_VAR, "system")
    assert not allocator.keep_freed_memory_unless_disabled() and calls == [1]
    monkeypatch.setenv(allocator.ENV_VAR, "Keep ")
    assert allocator.keep_freed_memory_unless_disabled() and calls == [1, 1]
    monkeypatch.setenv(allocator.ENV_VAR, "jemalloc")
    with pytest.raises(ValueError, match="ZIPASR_MALLOC='jemalloc'"):
        allocator.keep_freed_memory_unless_disabled()


def test_the_cli_keeps_freed_memory_unless_told_not_to(monkeypatch, capsys):
    from zipasr.cli.main import main

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    argv = ["info", "--seconds", "1", "--threads", "1"]
    assert main(argv) == 0 and calls == [1]
    monkeypatch.setenv(allocator.ENV_VAR, "system")
    assert main(argv) == 0 and calls == [1]
    monkeypatch.setenv(allocator.ENV_VAR, "bogus")
    assert main(argv) == 1 and calls == [1]
    assert "ZIPASR_MALLOC='bogus'" in capsys.readouterr().err
