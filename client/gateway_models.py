"""Upstream's ``/models/*`` routes for voices served by Triton.

- ``GET /models/info``: loaded voices by model_id with upstream's fields (``config_path``,
  ``model_path``, ``device``, ``language``, ``spk2id``, ``id2spk``, ``version``) plus ours.
- ``GET /models/add?model_path=P``: P is an exported voice folder (`tts-export onnx`; or its
  ``voice.json``) inside the configured roots. The gateway writes its Triton models into the
  configured repository (``name=`` renames the voice) and loads it: status 0 and upstream's
  ``Data: {model_id, model_info}``. A voice of that name already loaded is answered with its
  id (upstream adds a reference). A ``G_*.pth`` checkpoint is refused (status 16): export it
  first. No config.json beside a checkpoint or in its parent: status 15, as upstream.
- ``GET /models/delete?model_id=N``: unloads the voice from Triton (status 0, or 14).
- ``GET /models/get_local|get_unloaded?root_dir=D``: upstream's scan of D (default: the first
  root): for D itself (key ".") and each sub-folder, its ``G_*.pth`` files and those in its
  ``models/`` folder, sorted by training step (names without a number last), plus
  ``voice.json`` where the folder is an exported voice. get_unloaded leaves out what is loaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from tts_client.gateway import ApiError, Backend, resolve_inside
from tts_client.gateway_upstream import default_language, integer

__all__ = ["router", "scan_models"]

_STEP = re.compile(r"^G_(\d+)\.pth$")


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


def _info(backend: Backend, voice: Any) -> dict[str, Any]:
    source = backend.sources.get(voice.name)
    return {
        "config_path": str(source / "voice.json") if source else "",
        "model_path": str(source) if source else "",
        "device": f"triton ({backend.tts.protocol} {backend.tts.url})",
        "language": default_language(voice),
        "spk2id": voice.speakers,
        "id2spk": {str(i): s for s, i in voice.speakers.items()},
        "version": "2.3",
        "name": voice.name,
        "languages": voice.languages,
        "sample_rate": voice.sample_rate,
        "speaker_defaults": voice.speaker_defaults,
        "limits": voice.limits,
    }


def _voice_folder(model_path: str, config_path: str | None, roots: list[Path]) -> Path:
    """The exported voice folder ``model_path`` names (checked against ``roots``)."""
    path = resolve_inside(model_path, roots, "model_path")
    if config_path:
        resolve_inside(config_path, roots, "config_path")
    if path.is_file() and path.name == "voice.json":
        path = path.parent
    if path.is_dir() and (path / "voice.json").is_file():
        return path
    if path.is_file() and path.suffix == ".pth":
        near = [path.parent / "config.json", path.parent.parent / "config.json"]
        if not config_path and not any(c.is_file() for c in near):
            raise ApiError(
                400, 15, "查询未传入配置文件路径，同时默认路径./与../中不存在配置文件config.json。",
                "config_path", "no config.json beside the checkpoint or in its parent folder",
            )  # fmt: skip
        raise ApiError(
            400, 16, "模型加载出错，详细查看日志", "model_path",
            f"{model_path} is a training checkpoint; Triton serves exported voices: run "
            f"`tts-export onnx --checkpoint {model_path} --out DIR` and add DIR",
        )  # fmt: skip
    raise ApiError(
        404, 16, "模型加载出错，详细查看日志", "model_path",
        f"{model_path} is not an exported voice folder (no voice.json in it)",
    )  # fmt: skip


def _add(backend: Backend, params: dict[str, str]) -> dict[str, Any]:
    cfg = backend.cfg
    folder = _voice_folder(params.get("model_path") or "", params.get("config_path"), cfg.roots)
    if cfg.repository is None:
        raise ApiError(
            501, 16, "模型加载出错，详细查看日志", "model_path",
            "this gateway has no Triton repository configured (repository=...), so it cannot "
            "add voices; start it with the repository Triton serves",
        )  # fmt: skip
    try:  # the full project's exporter; the thin client (./client[gateway]) lacks it
        from tts_export.metadata import VoiceManifest
        from tts_export.repository import RepositoryOptions, model_name, write_repository
    except ImportError as e:
        raise ApiError(
            501, 16, "模型加载出错，详细查看日志", "model_path",
            f"adding voices needs the full project installed beside the gateway ({e}); "
            "or write the repository with `tts-export repository` and `tts load NAME`",
        ) from e  # fmt: skip

    try:
        name = model_name(params.get("name") or VoiceManifest.load(folder).name)
    except (OSError, ValueError, KeyError) as e:
        raise ApiError(400, 16, "模型加载出错，详细查看日志", "model_path", str(e)) from e
    loaded = {v.name: i for i, v in backend.voices(refresh=True).items()}
    if name not in loaded:
        try:
            write_repository(folder, cfg.repository, RepositoryOptions(name=name))
        except (OSError, ValueError) as e:
            raise ApiError(500, 16, "模型加载出错，详细查看日志", "model_path", str(e)) from e
        backend.call(backend.tts.load_voice, name)
    backend.sources[name] = folder
    model_id, voice = backend.pick(name)
    return {"status": 0, "detail": "模型添加成功",
            "Data": {"model_id": model_id, "model_info": _info(backend, voice)}}  # fmt: skip


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
    """/models/info, /models/add, /models/delete, /models/get_local, /models/get_unloaded."""
    api = APIRouter()

    @api.get("/models/info")
    def models_info() -> dict[str, Any]:
        """Loaded voices keyed by model_id (upstream's fields plus sample_rate, limits...)."""
        return {str(i): _info(backend, v) for i, v in sorted(backend.voices().items())}

    @api.get("/models/add")
    def models_add(request: Request) -> dict[str, Any]:
        """Load an exported voice folder (inside the allowed roots) into Triton."""
        return _add(backend, dict(request.query_params))

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
