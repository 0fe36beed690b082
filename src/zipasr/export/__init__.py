"""Deployment: ONNX files that sherpa-onnx loads unchanged (``pip install "zipasr[export]"``).

:func:`export_onnx` writes them; :func:`zipasr.export.quality.quality_gate` compares their WER
(run by sherpa-onnx) with PyTorch's on a dev manifest.
"""

from zipasr.export.onnx import ExportedModel, ExportOptions, export_onnx

__all__ = ["ExportOptions", "ExportedModel", "export_onnx"]
