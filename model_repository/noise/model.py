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
            try:
                z = self._noise(frames.reshape(-1), seeds.reshape(-1))
            except ValueError as e:
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(str(e), pb_utils.TritonError.INVALID_ARG)
                    )
                )
                continue
            responses.append(
                pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("noise_z", z)])
            )
        return responses

    def _noise(self, frames: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        if frames.size == 0 or frames.size != seeds.size:
            raise ValueError(
                f"frame_lengths and seeds must have the same number of rows (>= 1), "
                f"got {frames.size} and {seeds.size}"
            )
        if frames.min() < 1:
            raise ValueError(f"frame_lengths must be >= 1, got {frames.min()}")
        if seeds.min() < 0:
            raise ValueError(f"seeds must be in [0, {noise.MAX_SEED}], got {seeds.min()}")
        f = int(frames.max())
        if f > self.max_frames:
            raise ValueError(
                f"a sentence needs {f} frames; at most {self.max_frames} per sentence "
                "(lower LENGTH_SCALE or split the text)"
            )
        return np.stack([noise.frame_noise(int(s), self.channels, f) for s in seeds])
