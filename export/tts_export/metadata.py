"""What travels with exported graphs: ONNX `metadata_props` and the `voice.json` sidecar."""

from __future__ import annotations

from pathlib import Path

import onnx

# The manifest and the graph I/O names are part of the request contract (stdlib only, shipped
# with the client distribution); exporters import them from here or from there.
from tts_contract.manifest import (  # noqa: E402, F401
    CONTRACT_VERSION,
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    SIDECAR,
    BertInfo,
    VoiceManifest,
)


def write_metadata(path: str | Path, meta: dict[str, str]) -> None:
    """Set `metadata_props` of an ONNX file in place (keeps external data where it is)."""
    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    del model.metadata_props[:]
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)
    onnx.save(model, str(path))


def read_metadata(path: str | Path) -> dict[str, str]:
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}
