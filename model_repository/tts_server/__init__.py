"""The Triton launcher (`tts-serve`): find a tritonserver (on PATH or the one bundled in the
nvidia-pytriton wheel, `binary`), run it on a model repository (`tritonserver`), bring back a
model whose Python stub died and answer truthful readiness (`supervise`). `cli` is the command.

Server side: the thin client never imports it. Imports no torch, no onnx and no project package
but the contract.
"""
