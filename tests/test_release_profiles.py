"""Each release speaks through its own text frontend by default: `tts-export onnx` records the
release's profile in voice.json, and a voice.json without one (written before profiles
existed, or by hand) gets its release's profile, not 2.3's."""

from __future__ import annotations

import pytest

from tts_contract.manifest import VoiceManifest
from vits2.serving.pipeline import FrontendPipeline
from vits2.text.profiles import profile_for_release


@pytest.mark.parametrize(
    ("version", "release", "profile"),
    [
        ("2.0.2-fix", "2.0", "upstream-2.0"),
        ("2.1", "2.1", "upstream-2.1"),
        ("2.2", "2.2", "upstream-2.2"),
        ("2.3", "2.3", "improved"),
    ],  # Style-Bert-VITS2 pipelines need their style vectors: the export test covers them
)
def test_a_voice_without_a_profile_speaks_its_release_frontend(
    tiny_bert_dirs, version, release, profile
):
    def manifest(**fields) -> VoiceManifest:
        return VoiceManifest(
            "v", 44100, 512, 192, 256, {"a": 0}, ["JP"], version=version, release=release, **fields
        )

    pipeline = FrontendPipeline(manifest(), {"JP": tiny_bert_dirs["JP"]})
    assert pipeline.frontend.profile.name == profile
    named = manifest(frontend_profile="upstream-2.3")
    assert FrontendPipeline(named, {"JP": tiny_bert_dirs["JP"]}).frontend.profile.name == (
        "upstream-2.3"
    )


@pytest.mark.triton
def test_export_records_the_release_profile(release_voices):
    for voice_dir in release_voices.voice_dirs.values():
        manifest = VoiceManifest.load(voice_dir)
        assert manifest.frontend_profile == profile_for_release(manifest.release), voice_dir
