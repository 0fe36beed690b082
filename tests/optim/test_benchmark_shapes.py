"""The benchmark's fallback shape table is the Zipformer-M encoder of spec Appendix A."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "optimizer_step.py"


def test_shape_table_has_the_m_encoder_parameter_count():
    spec = importlib.util.spec_from_file_location("optimizer_step", BENCHMARK)
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    shapes = benchmark.table_shapes()
    assert len(shapes) == 731  # encoder_embed.* and encoder.* entries of Appendix A
    assert sum(math.prod(s) for s in shapes) == benchmark.M_NUM_PARAMS == 63_994_103
