"""Long-form jobs: submit text, get an id at once, poll progress, fetch the audio, cancel.

``POST /jobs`` (JSON: ``text``, ``model`` (voice name or model_id), ``speaker`` (default the
voice's first), ``language``, the scales, ``seed``, ``style_text``, ``style_text_weight``,
``emotion``, ``emotion_id``, ``style``, ``style_weight``, ``pitch_scale``, ``intonation_scale``
(applied per request: a group of sentences), ``given_phones`` / ``given_tones`` (a one-sentence
text only)) answers 202 with the job. ``GET /jobs``, ``GET /jobs/{id}`` (``state``, ``done``/``total``
sentences, ``error``), ``GET /jobs/{id}/audio`` (``format``; ``partial=true``: what is done),
``DELETE /jobs/{id}`` (cancel; ``purge=true`` deletes its files), ``POST /jobs/{id}/resume``.

One worker runs the jobs in order, ``job_group`` sentences per Triton request and
``job_inflight`` requests in flight, parts kept in order. A group starting at sentence i is
sent as its stretch of the text with seed + i (the server seeds its sentences seed + i,
seed + i + 1, ...), followed by the voice's pause for how its last sentence ends: what one
request for the whole text gives, so a job's audio equals one-shot synthesis with the same
seed. A job without a seed gets a random one at submission, kept in its state.

On disk under ``jobs_dir/<id>/``: ``job.json`` (request and progress, replaced atomically) and
``parts/FFFFF+CCCC.f32`` (each finished group: first sentence, count; float32 with its pause).
At start the gateway requeues every queued, running or waiting job, so a restart loses no
accepted job: it continues at its first missing sentence. When Triton cannot be reached the
job is ``waiting`` and retries for ``job_retry_s`` seconds, then ``failed`` with the reason and
how to resume; a voice no longer loaded, or a refused input, fails it at once.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import shutil
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from tts_client.audio import Audio, silence
from tts_client.errors import ServerUnavailableError, TTSError, TTSTimeoutError, UnknownVoiceError
from tts_contract.request import MAX_SEED, sentence_seed
from tts_contract.sentences import mix_alone, split_sentences
from tts_gateway.backend import ApiError, Backend, json_object
from tts_gateway.encoding import MEDIA_TYPES, available_formats, encode
from tts_gateway.upstream import default_language, integer, json_knobs, number

__all__ = ["Job", "JobStore", "router", "split_text"]

ACTIVE = ("queued", "running", "waiting")
_ID = re.compile(r"^[0-9a-f]{32}$")


def split_text(text: str, knobs: dict) -> list[tuple[str, int, int, str]]:
    """(sentence, start, end offset, how it ends) by the rules the server speaks a text with
    under the job's ``knobs`` (CLAUSE_CHARS pieces, MIX markup)."""
    clause_chars, mix = knobs.get("clause_chars") or 0, knobs.get("language") == "MIX"
    return [(s.text, s.start, s.end, s.kind) for s in split_sentences(text, clause_chars, mix)]


@dataclass
class Job:
    """A job's request and progress, as kept in ``job.json``."""

    id: str
    text: str
    voice: str
    knobs: dict[str, Any]
    """speaker, language, sdp_ratio, noise_scale, noise_scale_w, length_scale."""
    seed: int
    total: int
    state: str = "queued"
    done: int = 0
    sample_rate: int = 0
    error: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    waiting_since: float | None = None
    resumed: int = 0
    """How often the job was picked up again (gateway restart, POST resume)."""

    def public(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("text", "waiting_since")}
        out["progress"] = self.done / self.total if self.total else 1.0
        out["characters"] = len(self.text)
        out["audio_url"] = f"/jobs/{self.id}/audio"
        return out


class JobStore:
    """Jobs on disk plus the worker thread that runs them."""

    def __init__(self, root: Path, backend: Backend) -> None:
        self.root, self.backend = Path(root), backend
        self.root.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- disk -------------------------------------------------------------------------------
    def _save(self, job: Job) -> None:
        job.updated = time.time()
        folder = self.root / job.id
        (folder / "parts").mkdir(parents=True, exist_ok=True)
        tmp = folder / "job.json.tmp"
        tmp.write_text(json.dumps(asdict(job), ensure_ascii=False))
        os.replace(tmp, folder / "job.json")

    def _part(self, job: Job, first: int, count: int) -> Path:
        return self.root / job.id / "parts" / f"{first:05d}+{count:04d}.f32"

    def _parts(self, job: Job, upto: int | None = None) -> list[tuple[Path, int]]:
        """The chain of parts from sentence 0 (each: path, sentences in it), up to ``upto``
        sentences; a gap ends it."""
        found = {}
        for path in (self.root / job.id / "parts").glob("*+*.f32"):
            first, count = path.stem.split("+")
            found[int(first)] = (path, int(count))
        chain, done = [], 0
        while done in found and (upto is None or done < upto):
            chain.append(found[done])
            done += found[done][1]
        return chain

    def start(self) -> None:
        """Load the jobs on disk, requeue the unfinished ones, start the worker."""
        for path in sorted(self.root.glob("*/job.json")):
            try:
                job = Job(**json.loads(path.read_text()))
            except (ValueError, TypeError) as e:  # a damaged file must not stop the gateway
                print(f"gateway: skipping unreadable job {path}: {e}")
                continue
            # parts written after the last job.json save count (the write order is part, then
            # state): the job continues at its first missing sentence
            job.done = min(job.total, sum(count for _, count in self._parts(job)))
            self._jobs[job.id] = job
        for job in sorted(self._jobs.values(), key=lambda j: j.created):
            if job.state in ACTIVE:
                job.state, job.resumed = "queued", job.resumed + 1
                self._save(job)
                self._queue.put(job.id)
        self._stop.clear()
        self._thread = threading.Thread(target=self._work, name="gateway-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the sentence in progress; unfinished jobs stay on disk for next start."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    # -- requests ---------------------------------------------------------------------------
    def submit(self, body: dict[str, Any]) -> Job:
        """Check a job request, save it and queue it."""
        text = body.get("text", body.get("input"))
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, 21, "text is required: the text to speak", "text")
        if len(text) > self.backend.cfg.max_job_chars:
            raise ApiError(400, 21, f"text is {len(text)} characters; a job takes at most "
                           f"{self.backend.cfg.max_job_chars}", "text")  # fmt: skip
        _, voice = self.backend.pick(body.get("model", body.get("model_id")), "model")
        seed = integer(body, "seed")
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise ApiError(400, 21, f"seed must be in [0, {MAX_SEED}], got {seed}", "seed")
        knobs = {
            "speaker": _speaker(voice, body.get("speaker")),
            "language": str(body.get("language") or default_language(voice)).upper(),
            **{k: number(body, k, None)
               for k in ("sdp_ratio", "noise_scale", "noise_scale_w", "length_scale")},
            **json_knobs(voice, body),
        }  # fmt: skip
        sentences = split_text(text, knobs)
        if not sentences:
            raise ApiError(400, 21, "text has nothing to speak (only whitespace)", "text")
        job = Job(uuid.uuid4().hex, text, voice.name, knobs,
                  random.randrange(2**31) if seed is None else seed, len(sentences))  # fmt: skip
        with self._lock:
            self._jobs[job.id] = job
            self._save(job)
        self._queue.put(job.id)
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id) if _ID.match(job_id) else None
        if job is None:
            raise ApiError(404, 33, f"no job {job_id!r}; GET /jobs lists them", "id")
        return job

    def list(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created)

    def cancel(self, job_id: str, purge: bool = False) -> Job:
        """Cancel an unfinished job (the sentence in flight completes); purge deletes it."""
        job = self.get(job_id)
        with self._lock:
            if job.state in ACTIVE:
                job.state, job.error = "cancelled", "cancelled by request"
                self._save(job)
            if purge:
                self._jobs.pop(job.id, None)
                shutil.rmtree(self.root / job.id, ignore_errors=True)
        return job

    def resume(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again; it goes on at its first missing sentence."""
        job = self.get(job_id)
        with self._lock:
            if job.state in ("failed", "cancelled"):
                job.state, job.error, job.resumed = "queued", None, job.resumed + 1
                self._save(job)
                self._queue.put(job.id)
        return job

    def audio(self, job_id: str, partial: bool = False) -> Audio:
        job = self.get(job_id)
        if job.state != "done" and not partial:
            raise ApiError(
                409, 34, f"job {job.id} is {job.state} ({job.done}/{job.total} sentences); "
                "poll GET /jobs/{id} until done, or ask with partial=true", "id",
            )  # fmt: skip
        parts = [np.fromfile(path, "<f4") for path, _ in self._parts(job, job.done)]
        samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return Audio(samples, job.sample_rate or 44100)

    # -- the worker -------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._jobs.get(self._queue.get(timeout=0.2))
            except queue.Empty:
                continue
            if job is not None and job.state in ACTIVE:
                try:
                    self._run(job)
                except Exception as e:  # noqa: BLE001 - one broken job must not stop the rest
                    with self._lock:
                        if job.id in self._jobs and job.state in ACTIVE:
                            self._fail(job, f"internal error: {type(e).__name__}: {e}")

    def _synth(
        self, job: Job, sentences: list[tuple[str, int, int, str]], first: int, count: int
    ) -> np.ndarray:
        """Sentences first..first+count-1 as one request (seed + first) plus the pause after
        the last, as float32."""
        start, (_, _, end, kind) = sentences[first][1], sentences[first + count - 1]
        text = job.text[start:end]
        if job.knobs.get("language") == "MIX":
            text = mix_alone(job.text, start, end)
        tts = self.backend.tts
        info = tts.voice_info(job.voice)
        seed = sentence_seed(job.seed, first)
        audio = tts.synthesize(text, voice=job.voice, seed=seed, **job.knobs)
        pause = info.pause(kind)
        job.sample_rate = audio.sample_rate
        return np.concatenate([audio.samples, silence(float(pause), audio.sample_rate)])

    def _run(self, job: Job) -> None:
        """Run ``job`` from its first missing sentence; parts are written in order, so
        ``done`` always counts a complete prefix."""
        sentences = split_text(job.text, job.knobs)
        group = max(1, self.backend.cfg.job_group)
        inflight = max(1, self.backend.cfg.job_inflight)
        with self._lock:
            if job.state == "queued":
                job.state = "running"
                self._save(job)
        pending: dict[int, tuple[int, Future[np.ndarray]]] = {}
        with ThreadPoolExecutor(inflight, thread_name_prefix="gateway-job") as pool:
            while job.done < job.total:
                if self._stop.is_set() or job.state not in ACTIVE:
                    break  # stopping (resumed at next start) or cancelled
                nxt = max([job.done, *(f + c for f, (c, _) in pending.items())])
                while len(pending) < inflight and nxt < job.total:
                    count = min(group, job.total - nxt)
                    pending[nxt] = (count, pool.submit(self._synth, job, sentences, nxt, count))
                    nxt += count
                count, future = pending.pop(job.done)
                try:
                    samples = future.result()
                except (ServerUnavailableError, TTSTimeoutError) as err:
                    _drop(pending)
                    self._wait(job, err)
                    continue
                except UnknownVoiceError as err:
                    self._fail(job, f"voice {job.voice} is not loaded on Triton ({err.message})"
                               f"; load it, then POST /jobs/{job.id}/resume")  # fmt: skip
                    break
                except TTSError as err:
                    self._fail(job, f"sentences {job.done + 1}-{job.done + count}/{job.total}: "
                               f"{err.message}")  # fmt: skip
                    break
                self._keep(job, samples, count)
            _drop(pending)
        with self._lock:
            if job.state in ACTIVE and job.done == job.total:
                job.state = "done"
                self._save(job)

    def _keep(self, job: Job, samples: np.ndarray, count: int) -> None:
        """Write the next part (atomically), then count its sentences."""
        with self._lock:
            if job.state in ACTIVE:  # not cancelled or purged meanwhile
                part = self._part(job, job.done, count)
                tmp = part.with_suffix(".tmp")
                samples.astype("<f4").tofile(tmp)
                os.replace(tmp, part)
                job.done += count
                job.state, job.error, job.waiting_since = "running", None, None
                self._save(job)

    def _wait(self, job: Job, err: TTSError) -> None:
        """Triton unreachable: wait (state waiting) up to job_retry_s, then fail the job."""
        limit = self.backend.cfg.job_retry_s
        with self._lock:
            if job.state not in ACTIVE:
                return
            job.waiting_since = job.waiting_since or time.time()
            waited = time.time() - job.waiting_since
            if waited >= limit:
                self._fail(job, f"Triton was not reachable for {waited:.0f} s at sentence "
                           f"{job.done + 1}/{job.total} ({err.message}); {job.done} sentences "
                           f"are kept: POST /jobs/{job.id}/resume to go on")  # fmt: skip
                return
            job.state = "waiting"
            job.error = (
                f"Triton is not reachable ({err.message}); retrying for {limit - waited:.0f} s"
            )
            self._save(job)
        self._stop.wait(1.0)

    def _fail(self, job: Job, reason: str) -> None:
        job.state, job.error = "failed", reason
        self._save(job)


def _drop(pending: dict[int, tuple[int, Future[np.ndarray]]]) -> None:
    """Forget requests not yet needed (those already running finish unseen)."""
    for _, future in pending.values():
        future.cancel()
    pending.clear()


def _speaker(voice: Any, given: Any) -> str:
    if given is None or given == "":
        return min(voice.speakers, key=voice.speakers.get) if voice.speakers else ""
    by_id = {str(i): s for s, i in voice.speakers.items()}
    name = str(given)
    if name in voice.speakers or name in by_id:
        return name if name in voice.speakers else by_id[name]
    have = ", ".join(f"{i}={s}" for s, i in sorted(voice.speakers.items(), key=lambda x: x[1]))
    raise ApiError(404, 13, f"speaker {name!r} does not exist; {voice.name} has: {have}", "speaker")


def router(jobs: JobStore) -> APIRouter:
    """/jobs routes."""
    api = APIRouter()

    @api.post("/jobs", status_code=202)
    async def submit(request: Request) -> JSONResponse:
        """Queue a long text; answers at once with the job's id and state."""
        body = await json_object(request, "text, model, speaker")
        from starlette.concurrency import run_in_threadpool

        job = await run_in_threadpool(jobs.submit, body)
        return JSONResponse(job.public(), 202, headers={"Location": f"/jobs/{job.id}"})

    @api.get("/jobs")
    def list_jobs() -> dict[str, Any]:
        return {"jobs": [j.public() for j in jobs.list()]}

    @api.get("/jobs/{job_id}")
    def status(job_id: str) -> dict[str, Any]:
        return jobs.get(job_id).public()

    @api.get("/jobs/{job_id}/audio")
    def audio(job_id: str, format: str = "wav", partial: bool = False) -> Response:
        if format not in available_formats():
            raise ApiError(400, 20, f"format {format!r} is not available; available: "
                           f"{', '.join(available_formats())}", "format")  # fmt: skip
        return Response(encode(jobs.audio(job_id, partial), format), media_type=MEDIA_TYPES[format])

    @api.delete("/jobs/{job_id}")
    def cancel(job_id: str, purge: bool = False) -> dict[str, Any]:
        return jobs.cancel(job_id, purge).public()

    @api.post("/jobs/{job_id}/resume")
    def resume(job_id: str) -> dict[str, Any]:
        return jobs.resume(job_id).public()

    return api
