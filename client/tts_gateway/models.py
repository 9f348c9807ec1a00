"""Upstream's ``/models/*`` routes for voices served by Triton.

- ``GET /models/info``: loaded voices by model_id with upstream's fields (``config_path``,
  ``model_path``, ``device``, ``language``, ``spk2id``, ``id2spk``, ``version``) plus ours.
- ``GET /models/add?model_path=P``: P is an exported voice folder (`tts-export onnx`; or its
  ``voice.json``) inside the configured roots. The gateway writes its Triton models into the
  configured repository (``name=`` renames the voice) and loads it: status 0 and upstream's
  ``Data: {model_id, model_info}``. A voice of that name already loaded is answered with its
  id (upstream adds a reference). ``user_dict=CSV`` (inside the roots; Style-Bert-VITS2's CSV
  format) gives the voice its own Japanese user dictionary: compiled into the repository's copy
  (the exported folder is not changed) or at the checkpoint's export; a bad line is status 16
  naming it. To change a loaded voice's dictionary, delete it and add it again.
- ``GET /models/add?model_path=G_N.pth``: a training checkpoint (``config_path=``, else
  config.json beside it or in its parent, as upstream; none: status 15) becomes a task,
  answered at once (HTTP 202) with its ``id``: export with the configured BERT folders
  (``bert_dirs``; none configured: status 16 saying so), verify every graph against PyTorch,
  write the repository, load. The voice is named ``<config folder>_<G_N>`` unless ``name=``.
  One export runs at a time (each takes every core); the export lives in a temporary folder
  until the repository has its copy. Tasks live in memory: a gateway restart forgets them.
- ``GET /models/add/{id}``: the task's ``state``, ``stage`` (export, verify, repository,
  load), ``stages`` (state and seconds each), ``message``; done: status 0 and ``Data`` as
  above; failed: status 16; unknown id: 404, status 33.
- ``GET /models/delete?model_id=N``: unloads the voice from Triton (status 0, or 14).
- ``GET /models/get_local|get_unloaded?root_dir=D``: upstream's scan of D (default: the first
  root): for D itself (key ".") and each sub-folder, its ``G_*.pth`` files and those in its
  ``models/`` folder, sorted by training step (names without a number last), plus
  ``voice.json`` where the folder is an exported voice. get_unloaded leaves out what is loaded.

Writing a repository and exporting a checkpoint are the full project's `tts-export`, run as a
separate process per stage (`tts_gateway.exporter`); without it /models/add answers 501 saying
what to install.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tts_contract.manifest import VoiceManifest, model_name
from tts_gateway.backend import ApiError, Backend, full_project_missing, resolve_inside
from tts_gateway.exporter import ExporterMissing, ExportFailed, exporter_command, run_export
from tts_gateway.upstream import default_language, integer

__all__ = ["AddTask", "AddTasks", "router", "scan_models"]

_STEP = re.compile(r"^G_(\d+)\.pth$")
STAGES = ("export", "verify", "repository", "load")
"""What a checkpoint goes through on its way to being served, in order."""
LOAD_FAILED = "模型加载出错，详细查看日志"  # upstream's detail for status 16
KEEP_FINISHED = 100
"""Finished tasks remembered (older ones are forgotten first)."""


def _step_key(name: str) -> tuple[int, str]:
    m = _STEP.match(Path(name).name)
    return (int(m.group(1)) if m else 10**10, name)


def _checkpoints(folder: Path, prefix: str, skip: set[Path]) -> list[str]:
    if not folder.is_dir():
        return []
    found = [
        f"{prefix}{p.name}"
        for p in folder.iterdir()
        if p.name.startswith("G_") and p.name.endswith(".pth") and p.is_file()
        and p.resolve() not in skip
    ]  # fmt: skip
    return sorted(found, key=_step_key)


def scan_models(root: Path, skip: set[Path] = frozenset()) -> dict[str, list[str]]:
    """Upstream's ``_get_all_models``: {folder: [G_*.pth, models/G_*.pth, voice.json]}."""
    out: dict[str, list[str]] = {}
    for name in [*sorted(os.listdir(root)), "."]:
        folder = root / name
        if not folder.is_dir():
            continue
        files = _checkpoints(folder, "", skip) + _checkpoints(folder / "models", "models/", skip)
        manifest = folder / "voice.json"
        if manifest.is_file() and folder.resolve() not in skip:
            files.append("voice.json")
        if files:
            out[name] = files
    return out


def _info(backend: Backend, voice: Any, configs: dict[str, Path]) -> dict[str, Any]:
    source = backend.sources.get(voice.name)
    config = configs.get(voice.name) or (source / "voice.json" if source else None)
    return {
        "config_path": str(config or ""),
        "model_path": str(source) if source else "",
        "device": f"triton ({backend.tts.protocol} {backend.tts.url})",
        "language": default_language(voice),
        "spk2id": voice.speakers,
        "id2spk": {str(i): s for s, i in voice.speakers.items()},
        "version": voice.release or "unknown (not loaded)",  # 2.0-2.3, sbv2, sbv2-jp-extra
        "name": voice.name,
        "languages": voice.languages,
        "sample_rate": voice.sample_rate,
        "speaker_defaults": voice.speaker_defaults,
        "limits": voice.limits,
    }


def _checkpoint_config(path: Path, config_path: str | None, roots: list[Path]) -> Path:
    """The config.json of checkpoint ``path``: ``config_path``, else beside it or in its
    parent folder (upstream's rule); status 15 when there is none."""
    if config_path:
        found = [resolve_inside(config_path, roots, "config_path")]
        why = f"config_path={config_path} is not a file; give the voice's config.json"
    else:
        found = [path.parent / "config.json", path.parent.parent / "config.json"]
        why = "no config.json beside the checkpoint or in its parent folder"
    for config in found:
        if config.is_file():
            return config
    raise ApiError(
        400, 15, "查询未传入配置文件路径，同时默认路径./与../中不存在配置文件config.json。",
        "config_path", why,
    )  # fmt: skip


def _target(model_path: str, config_path: str | None, roots: list[Path]) -> tuple[Path, Path]:
    """(exported voice folder, its voice.json) or (checkpoint G_*.pth, its config.json) that
    ``model_path`` names, checked against ``roots``."""
    path = resolve_inside(model_path, roots, "model_path")
    if path.is_file() and path.suffix == ".pth":
        return path, _checkpoint_config(path, config_path, roots)
    if config_path:
        resolve_inside(config_path, roots, "config_path")
    if path.is_file() and path.name == "voice.json":
        path = path.parent
    if path.is_dir() and (path / "voice.json").is_file():
        return path, path / "voice.json"
    raise ApiError(
        404, 16, LOAD_FAILED, "model_path",
        f"{model_path} is neither an exported voice folder (no voice.json in it) nor a "
        "training checkpoint (G_*.pth)",
    )  # fmt: skip


@dataclass
class AddTask:
    """One checkpoint on its way to being served (``GET /models/add/{id}``)."""

    id: str
    name: str
    checkpoint: Path
    config: Path
    user_dict: Path | None = None
    """The voice's own user dictionary (CSV) compiled at export, or None."""
    state: str = "queued"
    stage: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    """Stage -> seconds it took (finished stages)."""
    message: str = ""
    """The latest progress line, or why the task failed."""
    result: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def note(self, line: str) -> None:
        self.message, self.updated = line, time.time()

    def public(self) -> dict[str, Any]:
        now = "failed" if self.state == "failed" else "running"
        stages = {s: {"state": now if s == self.stage else "pending"} for s in STAGES}
        for s, seconds in self.seconds.items():
            stages[s] = {"state": "done", "seconds": round(seconds, 3)}
        out = {
            "id": self.id, "url": f"/models/add/{self.id}", "state": self.state,
            "stage": self.stage, "stages": stages, "message": self.message, "name": self.name,
            "model_path": str(self.checkpoint), "config_path": str(self.config),
            "created": self.created, "updated": self.updated,
            "status": 16 if self.state == "failed" else 0,
            "detail": {"done": "模型添加成功", "failed": LOAD_FAILED}.get(self.state, self.state),
        }  # fmt: skip
        if self.result is not None:
            out["Data"] = self.result
        return out


class AddTasks:
    """Checkpoint tasks: each runs in its own daemon thread, one export at a time."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.tasks: dict[str, AddTask] = {}
        self.configs: dict[str, Path] = {}
        """Voice name -> the config.json a checkpoint was exported with (model_info)."""
        self._lock = threading.Lock()
        self._serial = threading.Lock()  # an export takes every core: never two at once

    def submit(
        self, checkpoint: Path, config: Path, name: str, user_dict: Path | None = None
    ) -> AddTask:
        """A new task for ``name``, or the unfinished one already adding it."""
        with self._lock:
            for task in self.tasks.values():
                if task.name == name and task.state in ("queued", "running"):
                    return task
            done = [t for t in self.tasks.values() if t.state in ("done", "failed")]
            for old in sorted(done, key=lambda t: t.updated)[: max(0, len(done) - KEEP_FINISHED)]:
                del self.tasks[old.id]
            task = AddTask(uuid.uuid4().hex, name, checkpoint, config, user_dict)
            task.note("queued: waiting for the exporter")
            self.tasks[task.id] = task
        threading.Thread(target=self._run, args=(task,), name=f"models-add-{name}",
                         daemon=True).start()  # fmt: skip
        return task

    def get(self, task_id: str) -> AddTask:
        task = self.tasks.get(task_id)
        if task is None:
            raise ApiError(
                404, 33, f"no /models/add task {task_id}", "id",
                "unknown task id (tasks are kept in memory: a gateway restart forgets them); "
                "GET /models/info shows what is loaded",
            )  # fmt: skip
        return task

    @contextlib.contextmanager
    def _stage(self, task: AddTask, stage: str) -> Iterator[None]:
        task.stage = stage
        task.note(f"{stage}: started")
        t = time.perf_counter()
        yield
        task.seconds[stage] = time.perf_counter() - t

    def _run(self, task: AddTask) -> None:
        with self._serial:
            task.state = "running"
            try:
                self._stages(task)
                task.state = "done"
                task.note(f"done in {sum(task.seconds.values()):.1f} s")
            # any failure (a broken checkpoint, a graph off the reference, Triton refusing the
            # load) must end as a failed task with its reason, never as a silently dead thread
            except Exception as e:  # noqa: BLE001
                task.state = "failed"
                if isinstance(e, ApiError):
                    reason = e.message
                elif isinstance(e, (ExportFailed, ExporterMissing)):
                    reason = str(e)
                else:
                    reason = f"{type(e).__name__}: {e}"
                task.note(f"{task.stage} failed: {reason}")

    def _stages(self, task: AddTask) -> None:
        backend, cfg = self.backend, self.backend.cfg
        with tempfile.TemporaryDirectory(prefix="tts-models-add-") as tmp:
            voice_dir = str(Path(tmp) / task.name)
            with self._stage(task, "export"):
                args = ["onnx", "--checkpoint", str(task.checkpoint), "--out", voice_dir,
                        "--config", str(task.config), "--name", task.name]  # fmt: skip
                for lang, folder in cfg.bert_dirs.items():
                    args += ["--bert", f"{lang}={folder}"]
                if task.user_dict is not None:
                    args += ["--user-dict", str(task.user_dict)]
                run_export(args, task.note)
            with self._stage(task, "verify"):
                try:
                    run_export(["verify", voice_dir, "--checkpoint", str(task.checkpoint)],
                               task.note)  # fmt: skip
                except ExportFailed as e:
                    raise ExportFailed(f"{e}; nothing was written to the repository") from None
            with self._stage(task, "repository"):
                run_export(_repository_args(voice_dir, cfg.repository, task.name), task.note)
        with self._stage(task, "load"):
            backend.call(backend.tts.load_voice, task.name)
            backend.voices(refresh=True)
            backend.sources[task.name] = task.checkpoint
            self.configs[task.name] = task.config
            model_id, voice = backend.pick(task.name)
            task.result = {"model_id": model_id, "model_info": _info(backend, voice, self.configs)}


def _repository_args(voice: str | Path, repository: Path, name: str) -> list[str]:
    """`tts-export repository` as the gateway writes a voice: its name, graphs on onnxruntime
    in-process (the repository's other options at their defaults)."""
    return ["repository", "--voice", str(voice), "--out", str(repository), "--name", name,
            "--graph-runtime", "onnxruntime"]  # fmt: skip


def _need_exporter() -> None:
    """501 unless the full project's `tts-export` can run beside the gateway."""
    try:
        exporter_command()
    except ExporterMissing as e:
        raise ApiError(501, 16, LOAD_FAILED, "model_path", str(e)) from e


def _add(backend: Backend, tasks: AddTasks, params: dict[str, str]) -> Any:
    cfg = backend.cfg
    model_path = params.get("model_path") or ""
    path, config = _target(model_path, params.get("config_path"), cfg.roots)
    if cfg.repository is None:
        raise ApiError(
            501, 16, LOAD_FAILED, "model_path",
            "this gateway has no Triton repository configured (repository=...), so it cannot "
            "add voices; start it with the repository Triton serves",
        )  # fmt: skip
    checkpoint = path.suffix == ".pth"
    _need_exporter()
    if checkpoint and not cfg.bert_dirs:
        raise ApiError(
            400, 16, LOAD_FAILED, "model_path",
            f"{model_path} is a training checkpoint and this gateway has no BERT folders to "
            "export it with: start it with --bert LANG=DIR per language the voice speaks "
            "(GatewayConfig.bert_dirs), or run `tts-export onnx --checkpoint "
            f"{model_path} --out DIR --bert LANG=DIR` yourself and add DIR",
        )  # fmt: skip
    user_dict = _user_dict(params.get("user_dict"), cfg.roots)
    try:
        default = f"{config.parent.name}_{path.stem}" if checkpoint else None
        name = model_name(params.get("name") or default or VoiceManifest.load(path).name)
    except (OSError, ValueError, KeyError) as e:
        raise ApiError(400, 16, LOAD_FAILED, "model_path", str(e)) from e
    loaded = {v.name: i for i, v in backend.voices(refresh=True).items()}
    if checkpoint and name not in loaded:
        return JSONResponse(tasks.submit(path, config, name, user_dict).public(), status_code=202)
    if name not in loaded:
        args = _repository_args(path, cfg.repository, name)
        if user_dict is not None:  # compiled into the repository's copy of the voice only
            args += ["--user-dict", str(user_dict)]
        try:
            run_export(args)
        except ExportFailed as e:
            raise ApiError(500, 16, LOAD_FAILED, "model_path", str(e)) from e
        backend.call(backend.tts.load_voice, name)
    backend.sources[name] = path
    if checkpoint:  # already loaded under this name: answered as upstream (a new reference)
        tasks.configs[name] = config
    else:
        tasks.configs.pop(name, None)
    model_id, voice = backend.pick(name)
    return {"status": 0, "detail": "模型添加成功",
            "Data": {"model_id": model_id, "model_info": _info(backend, voice, tasks.configs)}}  # fmt: skip


def _user_dict(value: str | None, roots: list[Path]) -> Path | None:
    """The ``user_dict`` CSV, inside the roots and every line well formed (status 16 naming
    the bad line otherwise)."""
    if not value:
        return None
    path = resolve_inside(value, roots, "user_dict")
    try:  # the full project's Japanese frontend reads it (MAY_IMPORT in tests/layering.py)
        from vits2.text import openjtalk
    except ImportError as e:
        raise full_project_missing("user_dict", "a voice's user dictionary", e) from e
    try:
        openjtalk.read_user_dict_csv(path)
    except ValueError as e:
        raise ApiError(400, 16, LOAD_FAILED, "user_dict", str(e)) from e
    return path


def _root(backend: Backend, root_dir: str | None) -> Path:
    roots = backend.cfg.roots
    if not root_dir:
        if not roots:
            resolve_inside(".", roots, "root_dir")  # raises: no roots configured
        return roots[0]
    path = resolve_inside(root_dir, roots, "root_dir")
    if not path.is_dir():
        raise ApiError(404, 21, f"root_dir={root_dir} is not a folder", "root_dir")
    return path


def router(backend: Backend) -> APIRouter:
    """/models/info, /models/add (+ /models/add/{id}), /models/delete, /models/get_*."""
    api = APIRouter()
    tasks = AddTasks(backend)

    @api.get("/models/info")
    def models_info() -> dict[str, Any]:
        """Loaded voices keyed by model_id (upstream's fields plus sample_rate, limits...)."""
        voices = sorted(backend.voices().items())
        return {str(i): _info(backend, v, tasks.configs) for i, v in voices}

    @api.get("/models/add")
    def models_add(request: Request) -> Any:
        """Load an exported voice folder into Triton, or start a checkpoint's task (202)."""
        return _add(backend, tasks, dict(request.query_params))

    @api.get("/models/add/{task_id}")
    def models_add_task(task_id: str) -> dict[str, Any]:
        """A checkpoint task's state, stage and, once done, upstream's Data."""
        return tasks.get(task_id).public()

    @api.get("/models/delete")
    def models_delete(request: Request) -> dict[str, Any]:
        """Unload a voice from Triton."""
        model_id = integer(dict(request.query_params), "model_id")
        voices = backend.voices(refresh=True)
        if model_id not in voices:
            have = ", ".join(f"{i}={v.name}" for i, v in sorted(voices.items())) or "none"
            raise ApiError(
                404, 14, f"模型{model_id}不存在，删除失败", "model_id",
                f"model_id={model_id} is not loaded; loaded: {have}",
            )  # fmt: skip
        backend.call(backend.tts.unload_voice, voices[model_id].name)
        backend.voices(refresh=True)
        return {"status": 0, "detail": "删除成功"}

    @api.get("/models/get_local")
    def get_local(root_dir: str | None = None) -> dict[str, list[str]]:
        """Checkpoints and exported voices under root_dir (upstream's scan)."""
        return scan_models(_root(backend, root_dir))

    @api.get("/models/get_unloaded")
    def get_unloaded(root_dir: str | None = None) -> dict[str, list[str]]:
        """As get_local, without the voices that are loaded."""
        loaded = {v.name for v in backend.voices(refresh=True).values()}
        skip = {p.resolve() for n, p in backend.sources.items() if n in loaded}
        return scan_models(_root(backend, root_dir), skip)

    return api
