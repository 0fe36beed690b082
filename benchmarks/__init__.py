"""zipasr's benchmark suite: ``python -m benchmarks`` (see docs/benchmarks.md).

The modules also run alone: ``benchmarks.speed`` (encoder time, memory, FLOPs, matmul peak),
``benchmarks.convergence`` (training at equal wall-clock), ``benchmarks.report`` (tables and
plots from a saved ``results.json``). The older scripts beside them (``encoder_speed.py``,
``decode_speed.py``, ``optimizer_step.py``, ``rnnt_loss.py``) are run as files.
"""
