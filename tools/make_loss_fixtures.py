"""Regenerates tests/fixtures/losses/k2_reference.pt from fast_rnnt 1.3 (k2's RNN-T code).

`fast_rnnt` is k2's RNN-T loss as a standalone package; it builds from its sdist on a CPU-only
machine with three changes to its CMake set-up and no source edits. In a separate environment:

    python -m venv /tmp/ftvenv
    /tmp/ftvenv/bin/pip install torch==2.13.0 numpy pybind11==2.11.1 cmake \\
        --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
    /tmp/ftvenv/bin/pip download --no-deps --no-binary :all: fast_rnnt==1.3
    tar xzf fast_rnnt-1.3.tar.gz && cd fast_rnnt-1.3
    # 1. pybind11 from the venv instead of a download:
    echo 'find_package(pybind11 CONFIG REQUIRED)' > cmake/pybind11.cmake
    # 2. C++17, which torch 2.13's headers need:
    sed -i 's/set(CMAKE_CXX_STANDARD 14 CACHE/set(CMAKE_CXX_STANDARD 17 CACHE/' CMakeLists.txt
    # 3. no CUDA, no tests (CMake 4 also needs the policy floor):
    PATH=/tmp/ftvenv/bin:$PATH FT_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Release -DFT_BUILD_TESTS=OFF \\
        -DFT_WITH_CUDA=OFF -DCMAKE_CXX_STANDARD=17 -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \\
        -Dpybind11_DIR=$(/tmp/ftvenv/bin/python -m pybind11 --cmakedir)" \\
        pip install --no-build-isolation .
    cd /work/main && /tmp/ftvenv/bin/python tools/make_loss_fixtures.py

The fixture holds float32 inputs drawn from a seeded generator and k2's outputs on them, with
the recipe's settings (blank 0, lm_only_scale 0.25, am_only_scale 0.0, s_range 5, boundary
[0, 0, U_b, T_b]; reductions "none"):

* "simple": am (B, T, V), lm (B, U+1, V), symbols, boundary; k2's smoothed loss, its
  (px_grad, py_grad) from return_grad=True, the gradients of the summed loss w.r.t. am and lm,
  and the prune ranges.
* "pruned": logits (B, T, 5, V) on those ranges; k2's pruned loss and its logits gradient.
* "full": logits (B, T, U+1, V) of a smaller batch; k2's rnnt_loss and its logits gradient.
"""

from __future__ import annotations

from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "losses" / "k2_reference.pt"
SEED = 4
BLANK, LM_ONLY_SCALE, AM_ONLY_SCALE, S_RANGE = 0, 0.25, 0.0, 5


def _lengths(gen: torch.Generator, max_frames: int, max_tokens: int, batch: int) -> torch.Tensor:
    """Boundary rows [0, 0, U_b, T_b] with the longest utterance at full size."""
    frames = torch.randint(max_frames // 2, max_frames + 1, (batch,), generator=gen)
    tokens = torch.randint(1, max_tokens + 1, (batch,), generator=gen)
    frames[0], tokens[0] = max_frames, max_tokens
    zeros = torch.zeros(batch, dtype=torch.int64)
    return torch.stack([zeros, zeros, tokens, frames], dim=1)


def make() -> dict[str, dict[str, torch.Tensor]]:
    import fast_rnnt as k2  # the reference recipe imports these functions from k2

    gen = torch.Generator().manual_seed(SEED)
    batch, frames, tokens, vocab = 4, 40, 12, 30
    boundary = _lengths(gen, frames, tokens, batch)
    # Scaled so the distributions are peaked, as in a trained model, not near-uniform.
    am = (3.0 * torch.randn(batch, frames, vocab, generator=gen)).requires_grad_()
    lm = (2.0 * torch.randn(batch, tokens + 1, vocab, generator=gen)).requires_grad_()
    symbols = torch.randint(1, vocab, (batch, tokens), generator=gen)
    simple, (px_grad, py_grad) = k2.rnnt_loss_smoothed(
        lm=lm,
        am=am,
        symbols=symbols,
        termination_symbol=BLANK,
        lm_only_scale=LM_ONLY_SCALE,
        am_only_scale=AM_ONLY_SCALE,
        boundary=boundary,
        reduction="none",
        return_grad=True,
    )
    # k2's backward scales the returned px_grad/py_grad in place (they are its saved tensors),
    # so take the ranges and copies first, as the recipe does before its backward pass.
    ranges = k2.get_rnnt_prune_ranges(px_grad, py_grad, boundary, S_RANGE)
    px_grad, py_grad = px_grad.clone(), py_grad.clone()
    simple.sum().backward()
    pruned_logits = (
        2.0 * torch.randn(batch, frames, S_RANGE, vocab, generator=gen)
    ).requires_grad_()
    pruned = k2.rnnt_loss_pruned(
        pruned_logits, symbols, ranges, BLANK, boundary=boundary, reduction="none"
    )
    pruned.sum().backward()

    full_batch, full_frames, full_tokens, full_vocab = 3, 20, 8, 20
    full_boundary = _lengths(gen, full_frames, full_tokens, full_batch)
    full_logits = (
        torch.randn(full_batch, full_frames, full_tokens + 1, full_vocab, generator=gen)
        .mul(2.0)
        .requires_grad_()
    )
    full_symbols = torch.randint(1, full_vocab, (full_batch, full_tokens), generator=gen)
    full = k2.rnnt_loss(full_logits, full_symbols, BLANK, boundary=full_boundary, reduction="none")
    full.sum().backward()

    def plain(x: torch.Tensor) -> torch.Tensor:
        return x.detach().clone().contiguous()

    return {
        "simple": {
            "am": plain(am),
            "lm": plain(lm),
            "symbols": symbols,
            "boundary": boundary,
            "loss": plain(simple),
            "px_grad": plain(px_grad),
            "py_grad": plain(py_grad),
            "am_grad": plain(am.grad),
            "lm_grad": plain(lm.grad),
            "ranges": plain(ranges),
        },
        "pruned": {
            "logits": plain(pruned_logits),
            "loss": plain(pruned),
            "grad": plain(pruned_logits.grad),
        },
        "full": {
            "logits": plain(full_logits),
            "symbols": full_symbols,
            "boundary": full_boundary,
            "loss": plain(full),
            "grad": plain(full_logits.grad),
        },
    }


def main() -> None:
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make(), FIXTURE)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
