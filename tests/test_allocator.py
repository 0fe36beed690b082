"""zipasr.allocator: glibc keeps freed memory, so a tensor allocated again costs no page faults."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from zipasr import allocator

glibc_only = pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc's mallopt")


def _transparent_huge_pages_always() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[always]" in f.read()
    except OSError:
        return False


#: Run in a fresh process: in one that has run other tests, their leftovers in the heap decide
#: whether a freed block is reused.
PHASES = """
import json, os, resource, torch
from zipasr import allocator

def faults(numel=16 << 20):  # 64 MiB: above glibc's largest mmap threshold
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(numel).fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

for name in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD"):
    assert name not in os.environ, name
out = {"default": [faults() for _ in range(4)]}
assert allocator.keep_freed_memory() and allocator.keeping_freed_memory()
out["kept"] = [faults() for _ in range(6)]
allocator.return_freed_memory()
out["returned"] = [faults()]
assert allocator.release_freed_memory() and not allocator.keeping_freed_memory()
out["released"] = [faults() for _ in range(3)]
print(json.dumps(out))
"""


@glibc_only
@pytest.mark.skipif(_transparent_huge_pages_always(), reason="faults count 2 MiB pages")
def test_kept_memory_is_reused_without_page_faults():
    """Minor page faults while a new 64 MiB tensor is filled, phase by phase."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUN"))}
    env.pop("LD_PRELOAD", None)
    done = subprocess.run(
        [sys.executable, "-c", PHASES], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    faults = json.loads(done.stdout)
    pages = (16 << 20) * 4 // resource.getpagesize()
    assert min(faults["default"]) > pages // 2, f"mmap'ed afresh every time: {faults}"
    # The heap grows at the first one, and again where a small allocation took part of the
    # hole in between (now and then, once): the others are reused.
    assert sum(f < pages // 100 for f in faults["kept"]) >= 4, f"reused: {faults}"
    assert faults["returned"][0] > pages // 2, f"given back by malloc_trim: {faults}"
    assert min(faults["released"]) > pages // 2, f"mmap'ed afresh again: {faults}"


def test_the_environment_variable_chooses(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    assert allocator.keep_freed_memory_unless_disabled() and calls == [1]
    monkeypatch.setenv(allocator.ENV_VAR, "system")
    assert not allocator.keep_freed_memory_unless_disabled() and calls == [1]
    monkeypatch.setenv(allocator.ENV_VAR, "Keep ")
    assert allocator.keep_freed_memory_unless_disabled() and calls == [1, 1]
    monkeypatch.setenv(allocator.ENV_VAR, "")
    assert allocator.keep_freed_memory_unless_disabled() and calls == [1, 1, 1]
    monkeypatch.setenv(allocator.ENV_VAR, "")
    for name, value in [("MALLOC_TRIM_THRESHOLD_", "1000000"),
                        ("GLIBC_TUNABLES", "glibc.malloc.mmap_max=0"),
                        ("LD_PRELOAD", "/usr/lib/libjemalloc.so.2")]:  # fmt: skip
        monkeypatch.setenv(name, value)
        assert allocator.user_tuned_malloc() == name
        assert not allocator.keep_freed_memory_unless_disabled(), "the user's choice stands"
        monkeypatch.delenv(name)
    assert calls == [1, 1, 1]
    monkeypatch.setenv(allocator.ENV_VAR, " JeMalloc")
    with pytest.raises(ValueError, match="ZIPASR_MALLOC=' JeMalloc'.*LD_PRELOAD"):
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
