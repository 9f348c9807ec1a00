"""Triton Python model `<voice>_join`: sentences' padded audio -> one waveform with pauses."""

from __future__ import annotations

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from vits2.assemble import trim_and_join

MAX_PAUSE_S = 10.0


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

            try:
                audio = self._join(get("audio"), get("audio_lengths"), get("pause_after"))
            except ValueError as e:
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(str(e), pb_utils.TritonError.INVALID_ARG)
                    )
                )
                continue
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("AUDIO", audio),
                        pb_utils.Tensor("SAMPLE_RATE", np.array([self.sample_rate], np.int32)),
                    ]
                )
            )
        return responses

    def _join(self, audio: np.ndarray, lengths: np.ndarray, pauses: np.ndarray) -> np.ndarray:
        lengths, pauses = lengths.reshape(-1), pauses.reshape(-1)
        if (
            audio.ndim != 2
            or audio.shape[0] < 1
            or not (audio.shape[0] == lengths.size == pauses.size)
        ):
            raise ValueError(
                f"audio [S, N], audio_lengths [S] and pause_after [S] must agree, got "
                f"{list(audio.shape)}, {lengths.size}, {pauses.size}"
            )
        if lengths.min() < 0 or lengths.max() > audio.shape[1]:
            raise ValueError(f"audio_lengths must be in [0, {audio.shape[1]}]")
        if not np.isfinite(pauses).all() or pauses.min() < 0 or pauses.max() > MAX_PAUSE_S:
            raise ValueError(f"pause_after must be in [0, {MAX_PAUSE_S}] seconds")
        if not np.isfinite(audio).all():
            raise ValueError("audio holds NaN or inf")
        return trim_and_join(audio, lengths, pauses, self.sample_rate)
