"""The Triton Python-backend models of a voice, as source: one folder per model (`frontend`,
`graph`, `decoder`, `noise`, `join`, `stream`), each with its ``model.py``, which `tts-export
repository` copies into the repositories it writes (`tts_export.repository.MODEL_SOURCES`).
`triton_io` gives every model the same parameters, inputs and per-request errors; `request`
reads a public request and runs the path's graph steps over BLS.

Inside Triton these import the serving core (`vits2.serving`), the graph runtime
(`tts_runtime`) and the contract; never torch.
"""
