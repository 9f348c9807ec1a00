"""Triton Python model `<voice>_frontend`: the request path's frontend step
(`vits2.serving.path`): text + speaker + language + scales + seed -> the encoder's padded
inputs for every sentence of the request (BERT and the emotion graphs via BLS; the voice's own
encoder inputs, its release's conditioning included), plus the later steps' values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from tts_model_repository.request import BlsSteps, read_request
from tts_model_repository.triton_io import model_parameters, respond
from vits2.serving.pipeline import FrontendPipeline, item_columns


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.name = args.get("model_name", "frontend")
        model_dir = Path(args["model_repository"]) / args["model_version"]
        self.pipeline = FrontendPipeline.from_voice_dir(model_dir / "voice")
        self.pipeline.warmup()  # the first request must not pay for loading dictionaries
        self.steps = BlsSteps(
            {},
            json.loads(params["bert_models"]),
            json.loads(params.get("emotion_models", "{}")),
        )

    def execute(self, requests):
        return respond(self.name, requests, self._one)

    def _one(self, request) -> dict[str, np.ndarray]:
        req = read_request(self.pipeline, request)
        batch = self.pipeline.prepare(req, self.steps.bert)
        return item_columns(self.pipeline.outputs(batch, req, self.steps.emotion))

    def finalize(self):
        pb_utils.Logger.log_info(f"{self.name}: unloaded")
