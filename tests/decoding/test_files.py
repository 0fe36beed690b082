"""zipasr.files: atomic writes with the umask's permissions (the ARPA writer goes through it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zipasr.decoding import write_arpa
from zipasr.files import write_text_atomically


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_files_get_the_umask_permissions_not_mkstemps(tmp_path: Path, umask, mode) -> None:
    old = os.umask(umask)
    try:
        text = write_text_atomically(tmp_path / "a.txt", "héllo")
        arpa = write_arpa({("a",): (-0.5, None), ("</s>",): (-0.3, None)}, tmp_path / "lm.arpa")
    finally:
        os.umask(old)
    assert text.read_text(encoding="utf-8") == "héllo"
    assert (text.stat().st_mode & 0o777, arpa.stat().st_mode & 0o777) == (mode, mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "lm.arpa"]  # no leftovers


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_text_atomically(tmp_path / "a.txt", "old")
    with pytest.raises(TypeError):
        write_text_atomically(target, None)  # type: ignore[arg-type]
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
