"""Regenerates tests/fixtures/regularizers/balancer.pt: the reference Balancer's gradients.

The reference is the `zipformer` package (0.1.3; set-up in tools/reference.py). Its
``BalancerFunction`` is identity in forward and edits the gradient in backward; this runs its
backward on small inputs whose per-channel statistics break each of its limits (mean/stddev
above and below, rms below and above), on inputs that break none (the gradient comes back
unchanged), on a channels-last (B, C, T, F) input with the channels on axis 1, as the front
end has them, and in float16 (the dtype autocast gives activations). Saved per case: the
input, the gradient, the limits as the reference takes them (min_mean, max_mean, min_rms,
max_rms, grad_scale), the channel axis, and the gradient the reference returns.

    /tmp/refvenv/bin/python tools/make_regularizer_fixtures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
from tools.reference import import_reference  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "regularizers" / "balancer.pt"
SEED = 23


def cases(gen: torch.Generator) -> list[dict]:
    """(name, input, limits, channel axis) of each case; the gradient has the input's dtype."""

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen)

    # Limits in the form BalancerFunction takes them: on mean/stddev (the Balancer module
    # derives these from proportions of positive values; +-0.4275 is about 0.26-0.74 of them,
    # +-1.6003 about 0.02-0.98) and on rms (mean absolute values 0.2 and 4.0 times
    # sqrt(pi / 2)).
    mid, wide = (-0.4275, 0.4275), (-1.6003, 1.6003)
    rms = (0.2 * 1.2533, 4.0 * 1.2533)
    return [
        dict(name="mean_high", x=randn(40, 3, 16) + 1.5, limits=(*mid, *rms, 0.04), dim=2),
        dict(name="mean_low", x=randn(40, 3, 16) - 1.0, limits=(*mid, *rms, 0.04), dim=2),
        dict(name="rms_low", x=randn(60, 16) * 0.01, limits=(*wide, *rms, 0.04), dim=1),
        dict(name="rms_high", x=randn(60, 16) * 9.0, limits=(*wide, *rms, 0.04), dim=1),
        dict(
            name="mixed",
            x=randn(50, 2, 24) * torch.linspace(0.01, 8, 24) + torch.linspace(-2, 2, 24),
            limits=(*mid, *rms, 0.04),
            dim=2,
        ),
        dict(name="within", x=randn(80, 12), limits=(*wide, 0.1, 10.0, 0.04), dim=1),
        dict(
            name="channels_axis1",
            x=(randn(2, 8, 12, 5) * 0.05 + 0.02).contiguous(memory_format=torch.channels_last),
            limits=(*mid, *rms, 0.04),
            dim=1,
        ),
        dict(name="float16", x=(randn(30, 2, 16) + 0.8).half(), limits=(*mid, *rms, 0.04), dim=2),
    ]


def main() -> None:
    scaling = import_reference("modules.scaling")
    gen = torch.Generator().manual_seed(SEED)
    saved = []
    for case in cases(gen):
        x = case["x"]
        grad = torch.randn(x.shape, generator=gen).to(x.dtype)
        leaf = x.clone().requires_grad_(True)
        y = scaling.BalancerFunction.apply(leaf, *case["limits"], case["dim"])
        (out,) = torch.autograd.grad(y, leaf, grad)
        saved.append(
            dict(
                name=case["name"], x=x, grad=grad, limits=case["limits"], dim=case["dim"],
                out=out.detach(),
            )
        )  # fmt: skip
        changed = (out.float() - grad.float()).abs().max().item()
        print(f"{case['name']}: gradient changed by up to {changed:.3g}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"cases": saved, "seed": SEED}, OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
