"""Exported graphs run in-process with onnxruntime or OpenVINO (no Triton, no torch).

- `session`: `GraphSession` (one graph) and `run_padded` (requests of different lengths in one
  padded batch and back);
- `shapes`: a bounded set of input shapes for runtimes that compile kernels per shape;
- `windows`: the vocoder decoded in overlapping windows (streaming);
- `cpu`: which runtime and precision `auto` picks on this CPU;
- `inprocess`: a voice's whole request path in one process (benchmarks, int8 calibration).

The Triton graph and stream models (`tts_model_repository`), the exporter's verify and
repository writer, and the benchmarks import it.
"""
