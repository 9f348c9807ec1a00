"""Triton Python model `<voice>_decoder` for voices served with the decoder's halves: the
request path's decoder step (docs/graphs.md) as the flow on whole sentences, then the vocoder,
both over BLS to `<voice>_flow` and `<voice>_vocoder`.

The decoupled stream model calls the same two models, so one copy of each graph, with one
bounded set of prepared shapes (`tts_runtime.shapes`), serves the ensemble and the
stream alike, and the two give the same audio. The vocoder model cuts each sentence to its own
frames and decodes long ones in exact windows, so its shapes stay bounded whatever the
sentence lengths. The requests the dynamic batcher hands in together go to the halves as one
batch (each padded on its last axis: phones or frames; the lengths mask the padding), and each
gets its own rows back, cut to its own frames.
"""

from __future__ import annotations

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from tts_model_repository.request import BlsSteps
from tts_model_repository.triton_io import error_for, model_parameters, step_inputs
from vits2.serving.path import STEPS


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.name = args.get("model_name", "decoder")
        self.steps = BlsSteps(json.loads(params["models"]), {})
        self.hop = int(params["hop_length"])

    def execute(self, requests):
        feeds, errors = [], {}
        for k, request in enumerate(requests):
            try:
                feeds.append(step_inputs(request, "decoder"))
            except Exception as err:  # noqa: BLE001 - this request's error alone
                errors[k] = err
        try:
            outs = iter(self._decode([f for f in feeds]) if feeds else [])
        except Exception as err:  # noqa: BLE001 - the halves failed: every request says so
            outs, errors = None, {k: errors.get(k, err) for k in range(len(requests))}
        responses = []
        for k in range(len(requests)):
            if k in errors:
                responses.append(pb_utils.InferenceResponse(error=error_for(self.name, errors[k])))
                continue
            audio, lengths = next(outs)
            tensors = [pb_utils.Tensor("audio", audio), pb_utils.Tensor("audio_lengths", lengths)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def _decode(self, feeds: list[dict[str, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every request's rows through the flow, then the vocoder, in one BLS call each."""
        joined = {name: _join([f[name] for f in feeds]) for name in feeds[0]}
        z = self.steps.run("flow", joined)["z"]
        vocoder = {"z": z, "g": joined["g"], "frame_lengths": joined["frame_lengths"]}
        out = self.steps.run("vocoder", {n: vocoder[n] for n in STEPS["vocoder"].inputs})
        results, start = [], 0
        for f in feeds:
            rows, samples = f["noise_z"].shape[0], f["noise_z"].shape[2] * self.hop
            audio = np.ascontiguousarray(out["audio"][start : start + rows, :samples])
            results.append((audio, out["audio_lengths"][start : start + rows]))
            start += rows
        return results

    def finalize(self):
        pb_utils.Logger.log_info(f"{self.name}: unloaded")


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """Rows of several requests as one batch, each padded with zeros on its last axis."""
    if len(parts) == 1:
        return parts[0]
    width = max(p.shape[-1] for p in parts)
    pad = [np.pad(p, [(0, 0)] * (p.ndim - 1) + [(0, width - p.shape[-1])]) for p in parts]
    return np.concatenate(pad, axis=0)
