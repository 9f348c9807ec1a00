"""Triton Python model `<voice>_stream` (decoupled): audio responses sent as soon as they are
decoded, so the first audio arrives long before the whole text is done.

The same request path as the ensemble (`vits2.serving.path`), sentence by sentence: the
frontend step in-process, the graph steps over BLS (they keep batching with other traffic),
the noise step in-process. Sentence i uses SEED + i, so the responses joined equal the
ensemble's AUDIO.

With the decoder's halves (parameters ``models`` name ``flow`` and ``vocoder``), each sentence
runs the flow once, then the vocoder in windows of frames (`tts_runtime.windows`):
one response per window, the first after ``first_window_seconds`` of audio is decoded, the
second ``window_frames`` frames, each later one ``window_growth`` times the one before.
Without them (older exports, decoder=int8), one response per sentence through the one-pass
decoder. Either way a sentence's pause is appended to its
last response, whose PAUSE_AFTER says how long it is (0 on every other response).

Lookahead (parameter ``lookahead``, 0 by default; `tts-export repository --stream-lookahead`):
while sentence i's windows are decoded and sent, a worker thread prepares sentence i + 1
(frontend, BERT, encoder, noise and flow), so its first window follows sentence i's last
without waiting for that work. The worker prepares the sentences of one request in order, one
ahead; the audio is the same either way. It pays where cores are idle while the vocoder runs;
on 2 cores the two compete and the stream got slower (benchmarks/RESULTS.md), hence opt-in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from tts_contract.request import TIMESTAMPS_KEYS, RequestError, sentence_seed
from tts_model_repository.request import BlsSteps, read_request
from tts_model_repository.triton_io import model_parameters, send_error
from tts_runtime.windows import FIRST_WINDOW_SECONDS, WINDOW_FRAMES, WindowPlan
from vits2.serving.alignment import phone_spans
from vits2.serving.path import (
    STEPS,
    Values,
    given_durations_step,
    noise_step,
    per_sentence,
    run_steps,
)
from vits2.serving.pipeline import FrontendPipeline, item_columns
from vits2.serving.timestamps import encode, sentence_timestamps, window_timestamps


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.name = args.get("model_name", "stream")
        voice_dir = Path(args["model_repository"]) / args["model_version"] / "voice"
        self.pipeline = FrontendPipeline.from_voice_dir(voice_dir)
        self.pipeline.warmup()  # the first request must not pay for loading dictionaries
        self.steps = BlsSteps(
            json.loads(params["models"]),
            json.loads(params["bert_models"]),
            json.loads(params.get("emotion_models", "{}")),
        )
        self.max_stream_chars = int(params.get("max_stream_chars", "100000"))
        lookahead = params.get("lookahead", "0")
        if lookahead not in ("0", "1"):
            raise ValueError(f"lookahead must be 0 or 1, got {lookahead!r}")
        # one worker: sentences are prepared in order, at most one ahead of the one sent
        self.worker = ThreadPoolExecutor(1, "lookahead") if lookahead == "1" else None
        self.windowed = {"flow", "vocoder"} <= set(self.steps.models)
        if self.windowed:
            config = json.loads((voice_dir / "config.json").read_text(encoding="utf-8"))
            size = int(params.get("window_frames", WINDOW_FRAMES))
            if size < 1:
                raise ValueError(f"window_frames must be >= 1, got {size}")
            growth = params.get("window_growth")
            self.plan = WindowPlan.from_config(
                config,
                float(params.get("first_window_seconds", FIRST_WINDOW_SECONDS)),
                size,
                # pad windows to two widths: for backends that tune per shape
                fixed_shapes=params.get("fixed_shapes", "0") == "1",
                growth=None if growth is None else float(growth),
            )
            plan = self.plan
            pb_utils.Logger.log_info(
                f"{self.name}: vocoder windows of {plan.first}, then {plan.size} frames growing "
                f"x{plan.growth:g}, context {plan.context.left}/{plan.context.right}, fixed "
                f"shapes {plan.fixed_shapes}"
            )

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
        if req.adjusts_pitch:
            raise RequestError(
                "PITCH_SCALE / INTONATION_SCALE move the F0 of the whole waveform (around its "
                "mean, as Style-Bert-VITS2 does), which a stream does not have piece by piece: "
                "send them to the ensemble (synthesize), or leave them at 1"
            )
        sentences = self.pipeline.sentences(req)
        at = 0  # samples sent so far: where the next piece starts in the request's audio
        counts = dict.fromkeys(TIMESTAMPS_KEYS, 0)  # TIMESTAMPS items of earlier sentences
        prepared = self._prepared(request, req, sentences)
        try:
            for i, values in enumerate(prepared):
                if request.is_cancelled():
                    return
                at = self._send_sentence(request, sender, req, sentences, i, values, at, counts)
                if at < 0:
                    return
        finally:
            prepared.close()  # waits for a sentence still being prepared

    def _prepared(self, request, req, sentences: Sequence) -> Iterator[Values]:
        """Each sentence's values, in order, ready for its audio (`_prepare`); none is prepared
        once the request is cancelled. With lookahead the worker prepares sentence i + 1 while
        the caller sends sentence i; closing the generator waits for it, so no work of this
        request outlives its execute."""
        if self.worker is None:
            for i, sentence in enumerate(sentences):
                if request.is_cancelled():
                    return
                yield self._prepare(req, sentence, i)
            return
        pending = self.worker.submit(self._prepare, req, sentences[0], 0)
        try:
            for i in range(len(sentences)):
                values = pending.result()
                if i + 1 < len(sentences) and not request.is_cancelled():
                    pending = self.worker.submit(self._prepare, req, sentences[i + 1], i + 1)
                yield values
        finally:
            pending.cancel()
            wait([pending])

    def _prepare(self, req, sentence, index: int) -> Values:
        """Sentence ``index`` up to its vocoder windows: the frontend, BERT and the encoder, and
        with windows also the noise and the flow (``z``)."""
        seed = sentence_seed(req.seed, index)
        batch = self.pipeline.assemble([sentence], self.steps.bert, seed, req.style)
        # the conditioning (an emotion embedding too) is computed once, for sentence 0
        values = item_columns(self.pipeline.outputs(batch, req, self.steps.emotion))
        values = self._encode(values, sentence, req)
        if self.windowed:
            path = self.pipeline.path
            values = run_steps(values, self._run, start="noise", stop="noise", path=path)
            values["z"] = self.steps.run("flow", {n: values[n] for n in STEPS["flow"].inputs})["z"]
        return values

    def _send_sentence(self, request, sender, req, sentences: Sequence, i: int, values: Values,
                       at: int, counts: dict[str, int]) -> int:  # fmt: skip
        """Decode and send sentence i's audio; returns the samples sent so far, or -1 when the
        request was cancelled on the way."""
        rate = self.pipeline.voice.sample_rate
        sentence = sentences[i]
        pause = sentence.pause_after if i < len(sentences) - 1 else 0.0
        stamps = self._stamps(sentence, req, values, at, i, pause, counts)
        pieces = self._windows(values) if self.windowed else self._whole(values)
        for piece, last in pieces:
            if last and pause > 0:
                silence = np.zeros(int(round(pause * rate)), np.float32)
                piece = np.concatenate([piece, silence])
            span = window_timestamps(stamps, at, at + len(piece), last) if stamps else None
            hop = self.pipeline.voice.hop_length
            window = {"span": [at, at + len(piece)], "hop_length": hop, **span} if span else None
            _send(sender, piece, rate, pause if last else 0.0, window)
            at += len(piece)
            if not last and request.is_cancelled():
                return -1
        return at

    def _encode(self, values: Values, sentence, req) -> Values:
        """The encoder step, then DURATIONS in place of its durations where the request gives
        them (`given_durations_step`)."""
        values = run_steps(values, self._run, stop="encoder", path=self.pipeline.path)
        if req.durations is not None:
            spans = [(s.start, s.stop) for s in phone_spans(sentence)]
            values = given_durations_step(values, spans, req.durations)
        return values

    def _stamps(self, sentence, req, values: Values, at: int, index: int, pause: float,
                counts: dict[str, int]) -> dict | None:  # fmt: skip
        """The sentence's TIMESTAMPS lists (request samples and indices; ``counts``: the items
        of the sentences before it, updated), or None without WITH_TIMESTAMPS 1."""
        if not req.timestamps:
            return None
        alignment = json.loads(bytes(np.asarray(values["alignment"]).reshape(-1)[0]))
        durations = np.asarray(values["durations"])[0]
        frames = int(per_sentence(values, "frame_lengths")[0])
        hop = self.pipeline.voice.hop_length
        lists = sentence_timestamps(alignment, durations, at, hop, index, pause, frames * hop,
                                    dict(counts))  # fmt: skip
        for k in TIMESTAMPS_KEYS:
            counts[k] += len(lists[k])
        return lists

    def _whole(self, values: Values) -> Iterator[tuple[np.ndarray, bool]]:
        """(the sentence's audio, True): one piece, through the one-pass decoder."""
        values = run_steps(
            values, self._run, start="noise", stop="decoder", path=self.pipeline.path
        )
        yield values["audio"][0, : int(per_sentence(values, "audio_lengths")[0])], True

    def _windows(self, values: Values) -> Iterator[tuple[np.ndarray, bool]]:
        """(audio, is the sentence's last piece) window by window: the vocoder over BLS per
        window (`WindowPlan.decode`) on the flow's ``z`` of all its frames (`_prepare`); joined
        they equal `_whole`."""

        def vocoder(frames: np.ndarray, g: np.ndarray, lengths: np.ndarray) -> np.ndarray:
            feeds = {"z": frames, "g": g, "frame_lengths": lengths.reshape(-1, 1)}
            return self.steps.run("vocoder", feeds)["audio"]

        lengths = per_sentence(values, "frame_lengths")
        count = len(self.plan.windows(int(lengths.max())))
        pieces = self.plan.decode(vocoder, values["z"], values["g"], lengths)
        for k, audio in enumerate(pieces):
            yield audio[0], k == count - 1

    def finalize(self):
        if self.worker is not None:
            self.worker.shutdown(wait=True)
        pb_utils.Logger.log_info(f"{self.name}: unloaded")


def _send(sender, audio: np.ndarray, rate: int, pause: float, stamps: dict | None) -> None:
    """One response: the piece, its rate, the pause it ends with, and with WITH_TIMESTAMPS 1 its
    span and the items that start in it (else TIMESTAMPS is empty)."""
    sender.send(
        pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("AUDIO", np.ascontiguousarray(audio, dtype=np.float32)),
                pb_utils.Tensor("SAMPLE_RATE", np.array([rate], np.int32)),
                pb_utils.Tensor("PAUSE_AFTER", np.array([pause], np.float32)),
                pb_utils.Tensor("TIMESTAMPS", np.array([encode(stamps)], np.object_)),
            ]
        )
    )
