"""Triton Python model running one exported graph in-process (onnxruntime or OpenVINO).

Requests of different lengths are padded into one batch and cut back (the graphs take
lengths, so padding never changes a result); a request with wrong tensors gets its own
INVALID_ARG error while the rest run. With a shape plan (parameter ``shape_plan``,
`tts_runtime.shapes`) the graph only ever runs at the plan's shapes, all prepared
at load, so memory stays bounded whatever the lengths of the traffic; the vocoder decodes
sentences longer than its largest shape in exact windows (``window_context``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from tts_model_repository.triton_io import error_for, model_parameters
from tts_runtime.session import (
    GraphSession,
    InputError,
    graph_axes,
    run_padded,
    warm_up,
)
from tts_runtime.shapes import ShapePlan
from tts_runtime.windows import Context, run_vocoder_rows


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.name = args.get("model_name", "graph")
        version_dir = (Path(args["model_repository"]) / args["model_version"]).resolve()
        path = (version_dir / params.get("graph", "model.onnx")).resolve()
        if version_dir not in path.parents:
            raise ValueError(f"graph path {params.get('graph')!r} escapes {version_dir}")
        self.session = GraphSession(
            path,
            params.get("runtime", "onnxruntime"),
            params.get("precision", "fp32"),
            int(params.get("threads", "0")),
        )
        self.axes = graph_axes(path)
        hop = int(params.get("hop_length", "0"))
        self.scale = {"samples": ("frames", hop)} if hop else {}
        # value ranges of index inputs: out-of-range ids would make the graph index past a table
        self.ranges = {k: tuple(v) for k, v in json.loads(params.get("ranges", "{}")).items()}
        self.max_axes = {k: int(v) for k, v in json.loads(params.get("max_axes", "{}")).items()}
        # decoder: rows of similar frame counts run together (see run_padded)
        self.row_lengths = json.loads(params.get("row_lengths", "{}")) or None
        self.max_padding = float(params.get("max_padding", "0"))
        plan = json.loads(params.get("shape_plan", "null"))
        self.plan = ShapePlan.from_dict(plan) if plan else None
        context = json.loads(params.get("window_context", "null"))
        self.context = Context(*context) if context else None
        self.inputs = [(i.name, i.dims) for i in self.session.inputs]
        # Triton hands per-item scalars as [B, 1] (config dims [1]); the graphs take [B]
        self.squeeze = {name for name, dims in self.inputs if len(dims) == 1}
        self.unsqueeze = {o.name for o in self.session.outputs if len(o.dims) == 1}
        if self.plan is not None:
            seconds = warm_up(self.session, self.axes, self.plan)
            pb_utils.Logger.log_info(
                f"{self.name}: {self.plan.count()} planned shapes prepared in {seconds:.1f} s"
            )

    def execute(self, requests):
        feeds, early = [], {}
        for k, request in enumerate(requests):
            try:
                feeds.append(self._feeds(request))
            except InputError as e:
                early[k] = e
                feeds.append({})
        live = [k for k in range(len(requests)) if k not in early]
        by_request = dict(zip(live, self._run([feeds[k] for k in live]), strict=True))
        by_request.update(early)
        responses = []
        for k in range(len(requests)):
            res = by_request[k]
            if isinstance(res, Exception):
                responses.append(pb_utils.InferenceResponse(error=error_for(self.name, res)))
                continue
            tensors = [
                pb_utils.Tensor(n, v[:, None] if n in self.unsqueeze else v) for n, v in res.items()
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def _run(self, feeds: list[dict[str, np.ndarray]]) -> list:
        try:
            if self.context is not None and self.plan is not None:
                hop = self.scale["samples"][1]
                return run_vocoder_rows(
                    self.session, feeds, self.axes, self.plan, self.context, hop, self.ranges
                )
            return run_padded(
                self.session,
                feeds,
                self.axes,
                self.scale,
                self.ranges,
                self.max_axes,
                self.row_lengths,
                self.max_padding,
                self.plan,
            )
        except Exception as e:
            if len(feeds) == 1:
                return [e]
            # isolate the request that broke the batch; the others still get their results
            return [self._run([f])[0] for f in feeds]

    def _feeds(self, request) -> dict[str, np.ndarray]:
        feeds = {}
        for name, _ in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise InputError(f"input '{name}' is missing")
            value = tensor.as_numpy()
            if name in self.squeeze and value.ndim == 2 and value.shape[1] == 1:
                value = value[:, 0]
            feeds[name] = value
        return feeds

    def finalize(self):
        pb_utils.Logger.log_info(f"{self.name}: unloaded")
