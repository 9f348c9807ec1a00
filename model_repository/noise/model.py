"""Triton Python model `<voice>_noise`: the decoder's prior noise, drawn from each sentence's
seed once the encoder has fixed the frame counts (vits2.noise, same as the reference)."""

from __future__ import annotations

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from vits2 import noise


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.channels = int(params["inter_channels"])
        self.max_frames = int(params.get("max_frames", "8192"))

    def execute(self, requests):
        responses = []
        for request in requests:
            frames = pb_utils.get_input_tensor_by_name(request, "frame_lengths").as_numpy()
            seeds = pb_utils.get_input_tensor_by_name(request, "seeds").as_numpy()
            frames, seeds = frames.reshape(-1), seeds.reshape(-1)
            f = int(frames.max())
            if f > self.max_frames:
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(
                            f"a sentence needs {f} frames; at most {self.max_frames} per sentence "
                            "(lower LENGTH_SCALE or split the text)",
                            pb_utils.TritonError.INVALID_ARG,
                        )
                    )
                )
                continue
            z = np.stack([noise.frame_noise(int(s), self.channels, f) for s in seeds])
            responses.append(
                pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("noise_z", z)])
            )
        return responses
