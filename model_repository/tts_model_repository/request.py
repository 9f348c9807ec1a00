"""Triton-side request plumbing shared by the frontend and stream models: reading a public
request by the contract's input names, and running the path's graph steps over BLS."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import triton_python_backend_utils as pb_utils

from tts_contract.request import (
    INTONATION_SCALE,
    PITCH_SCALE,
    REQUEST_INPUTS,
    SCALES,
    STYLE_TEXT_WEIGHT,
    STYLE_WEIGHT,
    RequestError,
)
from tts_model_repository.triton_io import optional_scalar, refused
from vits2.serving.path import STEPS
from vits2.serving.pipeline import FrontendPipeline
from vits2.serving.request import SynthesisRequest, parse_request


def read_request(
    pipeline: FrontendPipeline, request, max_text_chars: int | None = None
) -> SynthesisRequest:
    """The public inputs of ``request`` (docs/triton.md), checked by `parse_request`; inputs
    left out take the speaker's defaults."""
    raw = {i.name: optional_scalar(request, i.name) for i in REQUEST_INPUTS}
    for i in REQUEST_INPUTS:
        if (
            i.dtype == "FP32"
            and raw[i.name] is not None
            and not isinstance(raw[i.name], np.float32)
        ):
            raise RequestError(f"{i.name} must be FP32, got {type(raw[i.name]).__name__}")
    scales = {s.name: raw[s.input] for s in SCALES}
    seed = raw["SEED"]
    return parse_request(
        pipeline.voice,
        raw["TEXT"],
        raw["SPEAKER"],
        raw["LANGUAGE"],
        scales,
        None if seed is None else int(seed),
        max_text_chars=max_text_chars,
        profile=raw["PROFILE"],
        style_text=raw["STYLE_TEXT"],
        style_text_weight=raw[STYLE_TEXT_WEIGHT.input],
        emotion=raw["EMOTION"],
        emotion_id=raw["EMOTION_ID"],
        reference_audio=raw["REFERENCE_AUDIO"],
        style=raw["STYLE"],
        style_weight=raw[STYLE_WEIGHT.input],
        pitch_scale=raw[PITCH_SCALE.input],
        intonation_scale=raw[INTONATION_SCALE.input],
        given_phones=raw["GIVEN_PHONES"],
        given_tones=raw["GIVEN_TONES"],
        durations=raw["DURATIONS"],
        timestamps=raw["WITH_TIMESTAMPS"],
        clause_chars=raw["CLAUSE_CHARS"],
    )


class StepError(RuntimeError):
    """A step model called over BLS answered with an error."""


class BlsSteps:
    """The path's graph steps as BLS calls to the voice's step models (they keep batching
    with the ensemble's traffic)."""

    def __init__(
        self,
        models: Mapping[str, str],
        bert_models: Mapping[str, str],
        emotion_models: Mapping[str, str] | None = None,
    ) -> None:
        self.models = dict(models)
        """Step name -> Triton model name."""
        self.bert_models = dict(bert_models)
        """Language -> Triton model name."""
        self.emotion_models = dict(emotion_models or {})
        """Emotion graph kind (clap_text, clap_audio, wav2vec2) -> Triton model name."""

    def call(
        self, model: str, inputs: Mapping[str, np.ndarray], outputs, *, by_message: bool = True
    ) -> dict:
        """Step ``model``'s ``outputs``. Its error is the request's (RequestError) when the
        step says so (`refused`; with ``by_message`` False only by its code: the BERT and
        emotion models may be native backends, whose messages follow no rule of ours)."""
        request = pb_utils.InferenceRequest(
            model_name=model,
            requested_output_names=list(outputs),
            inputs=[pb_utils.Tensor(k, np.ascontiguousarray(v)) for k, v in inputs.items()],
        )
        response = request.exec()
        if response.has_error():
            error = response.error()
            if refused(model, error, by_message):  # the step refused its input: bad input
                raise RequestError(f"{model}: {error.message()}")
            raise StepError(f"{model}: {error.message()}")
        return {n: pb_utils.get_output_tensor_by_name(response, n).as_numpy() for n in outputs}

    def bert(self, language: str, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """`vits2.serving.pipeline.BertFn` over the voice's BERT model for ``language``."""
        model = self.bert_models[language]
        return self.call(model, feeds, ["bert_features"], by_message=False)["bert_features"]

    def emotion(self, kind: str, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """`vits2.serving.pipeline.EmotionFn` over the voice's emotion model of ``kind``."""
        if kind not in self.emotion_models:
            raise RequestError(
                f"this repository serves no {kind} emotion model for this voice (the python "
                "runtime leaves out graphs with bool inputs: CLAP's audio branch); leave the "
                "input out, or serve the voice on Triton's onnxruntime backend (--runtime onnxruntime)"
            )
        model = self.emotion_models[kind]
        return self.call(model, feeds, ["embedding"], by_message=False)["embedding"]

    def run(self, step: str, feeds: Mapping[str, np.ndarray]) -> dict:
        """`vits2.serving.path.StepRunner` over the step's model."""
        return self.call(self.models[step], feeds, STEPS[step].outputs)
