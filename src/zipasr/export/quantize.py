"""int8 and fp16 copies of an export, post-processed from the float32 files, metadata kept.

- int8: onnxruntime's dynamic quantisation, int8 weights on ``MatMul``. The decoder is kept in
  float32 (quantising its embedding costs accuracy), so the int8 variant points at
  ``decoder.onnx``.
- fp16: float16 weights and compute with float32 inputs and outputs (onnxconverter-common);
  the decoder is kept in float32 here too.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from zipasr.export.metadata import read_metadata, set_metadata

if TYPE_CHECKING:
    from zipasr.export.onnx import ExportedModel


def _with_suffix(path: Path, precision: str) -> Path:
    return path.with_name(f"{path.stem}.{precision}.onnx")


def quantize_int8(source: Path, target: Path) -> Path:
    """Writes the dynamically quantised (int8 MatMul weights) copy of ``source`` to ``target``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        model_input=str(source),
        model_output=str(target),
        op_types_to_quantize=["MatMul"],
        weight_type=QuantType.QInt8,
    )
    model = onnx.load(str(target))
    set_metadata(model, read_metadata(source))  # icefall#979: the runtime needs the keys
    onnx.save(model, str(target))
    return target


def convert_fp16(source: Path, target: Path) -> Path:
    """Writes the float16 copy of ``source`` (float32 inputs and outputs) to ``target``."""
    import onnx
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    # The converter leaves float32 types on some Cast outputs in value_info, which onnxruntime
    # rejects; the types are inferred again on load.
    del model.graph.value_info[:]
    set_metadata(model, read_metadata(source))
    onnx.save(model, str(target))
    return target


def int8_variant(fp32: ExportedModel) -> ExportedModel:
    """The int8 copy of every file of ``fp32`` but the decoder."""
    files = {
        role: path if role == "decoder" else quantize_int8(path, _with_suffix(path, "int8"))
        for role, path in fp32.files.items()
    }
    return dataclasses.replace(fp32, files=files, precision="int8")


def fp16_variant(fp32: ExportedModel) -> ExportedModel:
    """The fp16 copy of every file of ``fp32`` but the decoder (its float32 mask of valid ids
    is a Cast the converter leaves in float32, so a float16 decoder does not load; it is tiny)."""
    files = {
        role: path if role == "decoder" else convert_fp16(path, _with_suffix(path, "fp16"))
        for role, path in fp32.files.items()
    }
    return dataclasses.replace(fp32, files=files, precision="fp16")
