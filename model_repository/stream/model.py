"""Triton Python model `<voice>_stream` (decoupled): one AUDIO response per sentence, sent as
soon as that sentence is decoded, so the first audio arrives before the whole text is done.

The same request path as the ensemble (`vits2.serving.path`), sentence by sentence: the
frontend step in-process, the graph steps over BLS (they keep batching with other traffic),
the noise step in-process. Sentence i uses SEED + i and each chunk carries the pause that
follows it, so the chunks joined equal the ensemble's AUDIO.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from tts_client.contract import sentence_seed
from tts_model_repository.request import BlsSteps, read_request
from tts_model_repository.triton_io import model_parameters, send_error
from vits2.serving.path import noise_step, run_steps
from vits2.serving.pipeline import FrontendPipeline, frontend_outputs, item_columns


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.name = args.get("model_name", "stream")
        self.pipeline = FrontendPipeline.from_voice_dir(
            Path(args["model_repository"]) / args["model_version"] / "voice"
        )
        self.pipeline.warmup()  # the first request must not pay for loading dictionaries
        self.steps = BlsSteps(json.loads(params["models"]), json.loads(params["bert_models"]))
        self.max_stream_chars = int(params.get("max_stream_chars", "100000"))

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            try:
                self._stream(request, sender)
            except Exception as err:  # this request fails alone; the model keeps serving
                send_error(self.name, sender, err)
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None

    def _run(self, step: str, feeds: dict) -> dict:
        if step == "noise":
            voice = self.pipeline.voice
            return noise_step(feeds, voice.inter_channels, self.pipeline.limits.max_frames)
        return self.steps.run(step, feeds)

    def _stream(self, request, sender) -> None:
        req = read_request(self.pipeline, request, max_text_chars=self.max_stream_chars)
        sentences = self.pipeline.sentences(req)
        rate = self.pipeline.voice.sample_rate
        for i, sentence in enumerate(sentences):
            if request.is_cancelled():
                return
            seed = sentence_seed(req.seed, i)
            batch = self.pipeline.assemble([sentence], self.steps.bert, seed, req.style)
            values = run_steps(
                item_columns(frontend_outputs(batch, req)), self._run, stop="decoder"
            )
            chunk = values["audio"][0, : int(values["audio_lengths"].reshape(-1)[0])]
            pause = sentence.pause_after if i < len(sentences) - 1 else 0.0
            if pause > 0:
                chunk = np.concatenate([chunk, np.zeros(int(round(pause * rate)), np.float32)])
            sender.send(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("AUDIO", chunk.astype(np.float32)),
                        pb_utils.Tensor("SAMPLE_RATE", np.array([rate], np.int32)),
                        pb_utils.Tensor("PAUSE_AFTER", np.array([pause], np.float32)),
                    ]
                )
            )

    def finalize(self):
        pb_utils.Logger.log_info(f"{self.name}: unloaded")
