"""Triton Python model `<voice>_noise`: the request path's noise step
(`vits2.serving.path.noise_step`): each sentence's prior noise from its seed, once the encoder
has fixed the frame counts (the same numbers as the reference)."""

from __future__ import annotations

import triton_python_backend_utils as pb_utils

from tts_model_repository.triton_io import model_parameters, respond, step_inputs
from vits2.serving.path import noise_step


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.name = args.get("model_name", "noise")
        self.channels = int(params["inter_channels"])
        self.max_frames = int(params["max_frames"])

    def execute(self, requests):
        return respond(self.name, requests, self._one)

    def _one(self, request):
        feeds = step_inputs(request, "noise")
        return noise_step(feeds, self.channels, self.max_frames)

    def finalize(self):
        pb_utils.Logger.log_info(f"{self.name}: unloaded")
