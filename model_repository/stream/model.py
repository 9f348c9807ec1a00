"""Triton Python model `<voice>_stream` (decoupled): one AUDIO response per sentence, sent as
soon as that sentence is decoded, so the first audio arrives before the whole text is done.

Runs the frontend in-process, then per sentence calls the voice's BERT, encoder, noise and
decoder models via BLS (they keep batching with other traffic). Sentence i uses SEED + i and
each chunk carries the pause that follows it, so the chunks joined equal the ensemble's AUDIO.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from vits2.assemble import sentence_seed
from vits2.pipeline import (
    FrontendPipeline,
    RequestError,
    encoder_inputs,
    item_columns,
    parse_request,
)

SCALES = {
    "SDP_RATIO": "sdp_ratio",
    "NOISE_SCALE": "noise_scale",
    "NOISE_SCALE_W": "noise_scale_w",
    "LENGTH_SCALE": "length_scale",
}


class StepError(RuntimeError):
    pass


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.pipeline = FrontendPipeline.from_voice_dir(
            Path(args["model_repository"]) / args["model_version"] / "voice"
        )
        self.pipeline.warm_up()  # the first request must not pay for loading dictionaries
        self.models = json.loads(params["models"])  # step -> Triton model name
        self.bert_models = json.loads(params["bert_models"])
        self.max_stream_chars = int(params.get("max_stream_chars", "100000"))

    def _call(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]):
        request = pb_utils.InferenceRequest(
            model_name=model,
            requested_output_names=outputs,
            inputs=[pb_utils.Tensor(k, np.ascontiguousarray(v)) for k, v in inputs.items()],
        )
        response = request.exec()
        if response.has_error():
            raise StepError(f"{model}: {response.error().message()}")
        return [pb_utils.get_output_tensor_by_name(response, n).as_numpy() for n in outputs]

    def _bert(self, language, feeds):
        return self._call(self.bert_models[language], feeds, ["bert_features"])[0]

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            try:
                self._stream(request, sender)
            except RequestError as e:
                sender.send(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(str(e), pb_utils.TritonError.INVALID_ARG)
                    )
                )
            except Exception as e:  # this request fails alone; the model keeps serving
                sender.send(
                    pb_utils.InferenceResponse(error=pb_utils.TritonError(f"stream failed: {e}"))
                )
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None

    def _stream(self, request, sender):
        get = {}
        for name in ("TEXT", "SPEAKER", "LANGUAGE", "SEED", *SCALES):
            t = pb_utils.get_input_tensor_by_name(request, name)
            get[name] = None if t is None else t.as_numpy().reshape(-1)[0]
        scales = {key: float(get[name]) for name, key in SCALES.items() if get[name] is not None}
        voice = self.pipeline.voice
        req = parse_request(
            voice,
            get["TEXT"],
            get["SPEAKER"],
            get["LANGUAGE"],
            scales,
            None if get["SEED"] is None else int(get["SEED"]),
            max_text_chars=self.max_stream_chars,
        )
        sentences = self.pipeline.sentences(req)
        rate = np.array([voice.sample_rate], np.int32)
        for i, sentence in enumerate(sentences):
            if request.is_cancelled():
                return
            batch = self.pipeline.assemble([sentence], self._bert, sentence_seed(req.seed, i))
            m_p, logs_p, g, durations, frame_lengths = self._call(
                self.models["encoder"],
                item_columns(encoder_inputs(batch, req)),
                ["m_p", "logs_p", "g", "durations", "frame_lengths"],
            )
            (noise_z,) = self._call(
                self.models["noise"],
                {"frame_lengths": frame_lengths.reshape(-1, 1), "seeds": batch.seeds[:, None]},
                ["noise_z"],
            )
            audio, lengths = self._call(
                self.models["decoder"],
                {
                    "m_p": m_p,
                    "logs_p": logs_p,
                    "g": g,
                    "durations": durations,
                    "frame_lengths": frame_lengths.reshape(-1, 1),
                    "noise_scale": np.array([[req.noise_scale]], np.float32),
                    "noise_z": noise_z,
                },
                ["audio", "audio_lengths"],
            )
            chunk = audio[0, : int(lengths.reshape(-1)[0])]
            if i < len(sentences) - 1 and sentence.pause_after > 0:
                pause = np.zeros(int(round(sentence.pause_after * voice.sample_rate)), np.float32)
                chunk = np.concatenate([chunk, pause])
            sender.send(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("AUDIO", chunk.astype(np.float32)),
                        pb_utils.Tensor("SAMPLE_RATE", rate),
                    ]
                )
            )
