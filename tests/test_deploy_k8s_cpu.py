"""deploy/: every Kubernetes manifest validates against a pinned Kubernetes version's schemas
(`kubernetes-validate`, strict: unknown fields are errors), and the CPU deployment's probes,
ports and resources agree with `tts-serve` and with the measured memory budget."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
KUBERNETES = "1.33"
"""The Kubernetes version the manifests are validated against (pinned: schemas change)."""
MANIFESTS = sorted(DEPLOY.glob("k8s*/*.yaml"))
BUDGET = DEPLOY / "k8s-cpu" / "budget.json"
HEADROOM = 1.10
"""The memory request covers the measured peak with 10% to spare."""


def _documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def _as_builtin(doc: dict) -> dict:
    """``doc`` itself, or for a KServe InferenceService (a custom resource: Kubernetes ships no
    schema for it) its predictor's pod as a core v1 Pod, whose schema checks the containers,
    probes, resources and volumes."""
    if doc["apiVersion"].startswith("serving.kserve.io/"):
        predictor = doc["spec"]["predictor"]
        pod = {k: predictor[k] for k in ("containers", "volumes") if k in predictor}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": doc["metadata"], "spec": pod}
    return doc


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_manifest_validates_against_the_pinned_kubernetes(path):
    for doc in _documents(path):
        kubernetes_validate.validate(_as_builtin(doc), KUBERNETES, strict=True)


def test_a_manifest_with_a_wrong_field_is_caught():
    """The validation can fail: a typo'd field is an error for the pinned schemas."""
    doc = next(
        d for d in _documents(DEPLOY / "k8s-cpu" / "deployment.yaml") if d["kind"] == "Deployment"
    )
    doc["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def _cpu_container() -> dict:
    (deployment,) = [
        d for d in _documents(DEPLOY / "k8s-cpu" / "deployment.yaml") if d["kind"] == "Deployment"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_cpu_probes_use_the_truthful_readiness_of_tts_serve():
    container = _cpu_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--health-port={ports['health']}" in container["args"]
    for probe in ("readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/ready", "port": "health"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}


def test_cpu_args_are_options_tts_serve_takes():
    from tts_server.cli import app

    container = _cpu_container()
    assert container["command"] == ["tts-serve"]
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for arg in container["args"]:
        assert arg.split("=")[0] in result.output, arg


def _mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_cpu_memory_comes_from_the_measured_budget():
    budget = json.loads(BUDGET.read_text())
    resources = _cpu_container()["resources"]
    request, limit = _mib(resources["requests"]["memory"]), _mib(resources["limits"]["memory"])
    assert request >= HEADROOM * budget["peak_total_mib"], (request, budget["peak_total_mib"])
    assert limit >= request
    assert budget["errors"] == 0 and budget["requests"] >= 200
