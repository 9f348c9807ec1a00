"""Triton Python model `<voice>_join`: the request path's join step
(`vits2.serving.path.join_step`): sentences' padded audio -> one waveform with pauses."""

from __future__ import annotations

import triton_python_backend_utils as pb_utils

from tts_model_repository.triton_io import model_parameters, respond, step_inputs
from vits2.serving.path import join_step


class TritonPythonModel:
    def initialize(self, args):
        self.name = args.get("model_name", "join")
        self.sample_rate = int(model_parameters(args)["sample_rate"])

    def execute(self, requests):
        return respond(self.name, requests, self._one)

    def _one(self, request):
        feeds = step_inputs(request, "join")
        return join_step(feeds, self.sample_rate)

    def finalize(self):
        pb_utils.Logger.log_info(f"{self.name}: unloaded")
