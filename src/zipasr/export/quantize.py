"""int8 and fp16 copies of an export, post-processed from the float32 files, metadata kept.

- int8: onnxruntime's dynamic quantisation, int8 weights on ``MatMul``. The decoder is kept in
  float32 (quantising its embedding costs accuracy), so the int8 variant points at
  ``decoder.onnx``.
- fp16: float16 weights and compute with float32 inputs and outputs (onnxconverter-common);
  the decoder is kept in float32 here too.
"""

from __future__ import annotations

from pathlib import Path

from zipasr.export.metadata import read_metadata, set_metadata
from zipasr.optional import require


def _with_suffix(path: Path, precision: str) -> Path:
    return path.with_name(f"{path.stem}.{precision}.onnx")


def quantize_int8(source: Path, target: Path) -> Path:
    """Writes the dynamically quantised (int8 MatMul weights) copy of ``source`` to ``target``."""
    onnx = require("onnx", "int8 export")
    quantization = require("onnxruntime.quantization", "int8 export")
    quantization.quantize_dynamic(
        model_input=str(source),
        model_output=str(target),
        op_types_to_quantize=["MatMul"],
        weight_type=quantization.QuantType.QInt8,
    )
    model = onnx.load(str(target))
    set_metadata(model, read_metadata(source))  # icefall#979: the runtime needs the keys
    onnx.save(model, str(target))
    return target


def convert_fp16(source: Path, target: Path) -> Path:
    """Writes the float16 copy of ``source`` (float32 inputs and outputs) to ``target``."""
    onnx = require("onnx", "fp16 export")
    float16 = require("onnxconverter_common.float16", "fp16 export")
    model = float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    # The converter leaves float32 types on some Cast outputs in value_info, which onnxruntime
    # rejects; the types are inferred again on load.
    del model.graph.value_info[:]
    set_metadata(model, read_metadata(source))
    onnx.save(model, str(target))
    return target


def int8_files(fp32: dict[str, Path]) -> dict[str, Path]:
    """The int8 copy of every file (role -> path) of a float32 export but the decoder."""
    return {
        role: path if role == "decoder" else quantize_int8(path, _with_suffix(path, "int8"))
        for role, path in fp32.items()
    }


def fp16_files(fp32: dict[str, Path]) -> dict[str, Path]:
    """The fp16 copy of every file (role -> path) of a float32 export but the decoder (its
    float32 mask of valid ids is a Cast the converter leaves in float32, so a float16 decoder
    does not load; it is tiny)."""
    return {
        role: path if role == "decoder" else convert_fp16(path, _with_suffix(path, "fp16"))
        for role, path in fp32.items()
    }
