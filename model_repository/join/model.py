"""Triton Python model `<voice>_join`: sentences' padded audio -> one waveform with pauses."""

from __future__ import annotations

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from vits2.assemble import trim_and_join


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.sample_rate = int(params["sample_rate"])

    def execute(self, requests):
        responses = []
        for request in requests:

            def get(name, request=request):
                return pb_utils.get_input_tensor_by_name(request, name).as_numpy()

            audio = trim_and_join(
                get("audio"),
                get("audio_lengths").reshape(-1),
                get("pause_after").reshape(-1),
                self.sample_rate,
            )
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("AUDIO", audio),
                        pb_utils.Tensor("SAMPLE_RATE", np.array([self.sample_rate], np.int32)),
                    ]
                )
            )
        return responses
