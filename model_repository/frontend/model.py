"""Triton Python model `<voice>_frontend`: text + speaker + language + scales + seed ->
the encoder's padded inputs for every sentence of the request (BERT via BLS)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from vits2.pipeline import (
    FrontendPipeline,
    RequestError,
    encoder_inputs,
    item_columns,
    parse_request,
)

SCALE_INPUTS = {
    "SDP_RATIO": "sdp_ratio",
    "NOISE_SCALE": "noise_scale",
    "NOISE_SCALE_W": "noise_scale_w",
    "LENGTH_SCALE": "length_scale",
}


def _optional(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    value = tensor.as_numpy().reshape(-1)
    if value.size != 1:
        raise RequestError(f"{name} must hold exactly one value, got {value.size}")
    return value[0]


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        model_dir = Path(args["model_repository"]) / args["model_version"]
        self.pipeline = FrontendPipeline.from_voice_dir(model_dir / "voice")
        self.pipeline.warm_up()  # the first request must not pay for loading dictionaries
        self.bert_models = json.loads(params["bert_models"])  # language -> Triton model name

    def _bert(self, language: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        request = pb_utils.InferenceRequest(
            model_name=self.bert_models[language],
            requested_output_names=["bert_features"],
            inputs=[pb_utils.Tensor(k, v) for k, v in feeds.items()],
        )
        response = request.exec()
        if response.has_error():
            raise RuntimeError(f"BERT {language}: {response.error().message()}")
        return pb_utils.get_output_tensor_by_name(response, "bert_features").as_numpy()

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                responses.append(pb_utils.InferenceResponse(output_tensors=self._one(request)))
            except RequestError as e:
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(str(e), pb_utils.TritonError.INVALID_ARG)
                    )
                )
            except Exception as e:  # keep serving: a failure is this request's alone
                responses.append(
                    pb_utils.InferenceResponse(error=pb_utils.TritonError(f"frontend failed: {e}"))
                )
        return responses

    def _one(self, request):
        scales = {}
        for name, key in SCALE_INPUTS.items():
            value = _optional(request, name)
            if value is not None:
                if not isinstance(value, (float, np.floating)):
                    raise RequestError(f"{name} must be FP32")
                scales[key] = float(value)
        seed = _optional(request, "SEED")
        req = parse_request(
            self.pipeline.voice,
            _optional(request, "TEXT"),
            _optional(request, "SPEAKER"),
            _optional(request, "LANGUAGE"),
            scales,
            None if seed is None else int(seed),
        )
        batch = self.pipeline.prepare(req, self._bert)
        s = len(batch)
        outputs = item_columns(
            {
                **encoder_inputs(batch, req),
                "noise_scale": np.full((s,), req.noise_scale, np.float32),
                "seeds": batch.seeds,
                "pause_after": batch.pause_after,
            }
        )
        return [pb_utils.Tensor(k, np.ascontiguousarray(v)) for k, v in outputs.items()]
