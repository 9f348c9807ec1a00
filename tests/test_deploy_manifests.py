"""deploy/: the Kubernetes manifests parse and agree with the image; the Dockerfile is sane.

No cluster and no Docker engine here: these are static checks of what a reviewer would check
by eye (image, ports 8000/8001/8002, health probes, GPU limits, shm, server flags).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
IMAGE = re.compile(r"^[\w.\-/:]*/bertvits2-triton:[\w.\-]+$")
NGC_BASE = re.compile(r"^nvcr\.io/nvidia/tritonserver:(\$\{TRITON_VERSION\}|\d{2}\.\d{2})-py3$")
PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
SERVER_FLAGS = ("--model-repository=/models", "--http-port=8000", "--grpc-port=8001", "--metrics-port=8002")  # fmt: skip


def documents() -> list[tuple[str, dict]]:
    out = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                out.append((path.name, doc))
    return out


def by_kind(kind: str) -> list[dict]:
    return [doc for _, doc in documents() if doc["kind"] == kind]


def pod_spec(kind: str) -> dict:
    docs = by_kind(kind)
    assert len(docs) == 1, f"expected one {kind}, found {len(docs)}"
    doc = docs[0]
    return doc["spec"]["template"]["spec"] if kind == "Deployment" else doc["spec"]["predictor"]


def test_every_manifest_parses_with_kind_and_name():
    assert {p.name for p in MANIFESTS} >= {"deployment.yaml", "service.yaml", "hpa.yaml"}
    for name, doc in documents():
        assert {"apiVersion", "kind", "metadata"} <= set(doc), name
        assert doc["metadata"].get("name"), f"{name}: {doc['kind']} has no name"


@pytest.mark.parametrize("kind", ["Deployment", "InferenceService"])
def test_server_container_image_ports_probes_and_resources(kind):
    if not by_kind(kind):
        pytest.skip(f"no {kind} manifest")
    spec = pod_spec(kind)
    (container,) = spec["containers"]
    assert IMAGE.match(container["image"]), container["image"]
    args = container.get("command", []) + container.get("args", [])
    assert args[0] == "tritonserver"
    for flag in SERVER_FLAGS:
        assert flag in args, f"{kind}: missing {flag}"
    ports = {p["containerPort"] for p in container["ports"]}
    # KServe routes a single port per InferenceService: HTTP there, all three in a Deployment
    assert ports == (set(PORTS.values()) if kind == "Deployment" else {8000}), ports
    if kind == "Deployment":
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert named == PORTS
    paths = {
        probe: container[probe]["httpGet"]["path"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe")
        if probe in container
    }
    assert paths["readinessProbe"] == "/v2/health/ready"
    assert paths["livenessProbe"] == "/v2/health/live"
    for probe in ("readinessProbe", "livenessProbe"):
        port = container[probe]["httpGet"]["port"]
        assert port in ("http", 8000), f"{probe} must hit the HTTP port, got {port}"
    limits = container["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) >= 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] == limits["nvidia.com/gpu"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/models"].get("readOnly") is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    shm = volumes[mounts["/dev/shm"]["name"]]
    assert shm["emptyDir"]["medium"] == "Memory", "/dev/shm must be memory-backed"
    assert "persistentVolumeClaim" in volumes[mounts["/models"]["name"]]


def test_deployment_drains_before_it_is_killed():
    deployment = by_kind("Deployment")[0]
    spec = deployment["spec"]["template"]["spec"]
    args = spec["containers"][0]["args"]
    exit_timeout = int(next(a for a in args if a.startswith("--exit-timeout-secs=")).split("=")[1])
    assert spec["terminationGracePeriodSeconds"] > exit_timeout
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    security = spec["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    claim = spec["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim in {d["metadata"]["name"] for d in by_kind("PersistentVolumeClaim")}


def test_service_exposes_the_three_ports_of_the_deployment():
    (service,) = by_kind("Service")
    deployment = by_kind("Deployment")[0]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP", "Triton has no auth"
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {name: (port, name) for name, port in PORTS.items()}


def test_hpa_scales_the_deployment_on_triton_queue_time():
    (hpa,) = by_kind("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment"
    assert target["name"] == by_kind("Deployment")[0]["metadata"]["name"]
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pods = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods, "no custom per-pod metric"
    (rules_cm,) = by_kind("ConfigMap")
    rules = yaml.safe_load(rules_cm["data"]["config.yaml"])["rules"]
    published = {r["name"]["as"]: r for r in rules}
    for metric in pods:
        assert metric in published, f"HPA metric {metric} is not published by the adapter"
        assert "nv_inference_queue_duration_us" in published[metric]["metricsQuery"]


# -- Dockerfile (parsed as text) ---------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped[:-1] if stripped.endswith("\\") else " " + stripped
        if not stripped.endswith("\\"):
            instruction, _, rest = current.strip().partition(" ")
            lines.append((instruction.upper(), rest.strip()))
            current = ""
    return lines


def test_dockerfile_from_expose_cmd():
    instructions = dockerfile()
    froms = [rest for ins, rest in instructions if ins == "FROM"]
    base = froms[0].split()[0]
    assert NGC_BASE.match(base), base
    args = {rest.split("=")[0]: rest.split("=", 1)[1] for ins, rest in instructions if ins == "ARG" and "=" in rest}  # fmt: skip
    assert re.fullmatch(r"\d{2}\.\d{2}", args["TRITON_VERSION"]), args["TRITON_VERSION"]
    stages = [f.split()[-1] for f in froms if " AS " in f.upper()]
    assert "server" in stages
    for later in froms[1:]:
        assert later.split()[0] in stages, f"later stages build on ours: {later}"
    exposed = {int(p) for ins, rest in instructions if ins == "EXPOSE" for p in rest.split()}
    assert exposed == set(PORTS.values())
    (cmd,) = [rest for ins, rest in instructions if ins == "CMD"]
    import json

    cmd = json.loads(cmd)  # exec form: signals reach tritonserver directly (PID 1)
    assert cmd[0] == "tritonserver"
    for flag in SERVER_FLAGS:
        assert flag in cmd, f"CMD lacks {flag}"
    assert "--model-control-mode=explicit" in cmd
    assert any(a.startswith("--exit-timeout-secs=") for a in cmd)


def test_dockerfile_installs_the_project_and_drops_root():
    instructions = dockerfile()
    runs = " ".join(rest for ins, rest in instructions if ins == "RUN")
    words = shlex.split(runs.replace(";", " ").replace("&&", " "))
    assert "install" in words and "." in words, "the image must `pip install .` this project"
    users = [rest for ins, rest in instructions if ins == "USER"]
    assert users and users[-1] not in ("root", "0"), "the server must not run as root"
    assert any(ins == "HEALTHCHECK" and "/v2/health/ready" in rest for ins, rest in instructions)
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "--shm-size" in text, "say how much /dev/shm the container needs"
    assert "tts-export repository" in text
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert ".venv" in ignore and ".git" in ignore


def test_deploy_doc_covers_cold_start_memory_and_scaling():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "deploy.md").read_text(encoding="utf-8")
    for topic in ("model_warmup", "Cold start", "GPU memory", "Scaling out", "--shm-size"):
        assert topic in doc, topic
    # the model_warmup example parses as Triton's ModelConfig (protobuf text format)
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    block = doc.split("```protobuf", 1)[1].split("```", 1)[0]
    config = text_format.Parse(block, model_config_pb2.ModelConfig())
    (warmup,) = config.model_warmup
    assert warmup.batch_size >= 1
    decoder_inputs = {"m_p", "logs_p", "g", "durations", "frame_lengths", "noise_scale", "noise_z"}
    assert set(warmup.inputs) == decoder_inputs  # docs/graphs.md


# -- the flags, on a real server -----------------------------------------------------------------
def _run_flags(flags: list[str], tmp_path: Path) -> None:
    """Start the pip-bundled tritonserver (2.51 = NGC 24.10) with these flags on an empty
    repository, bound to loopback and free ports, and wait until it is ready."""
    import subprocess
    import time
    import urllib.request

    from tts_server.tritonserver import find_tritonserver, free_port

    binary = find_tritonserver()
    ports = {name: free_port() for name in PORTS}
    (tmp_path / "models").mkdir()
    args = []
    for flag in flags:
        name, _, value = flag.partition("=")
        if name == "--model-repository":
            value = str(tmp_path / "models")
        elif name.endswith("-address"):
            value = "127.0.0.1"  # tests never listen beyond loopback
        elif name.endswith("-port"):
            value = str(ports[name[2:-5]])
        args.append(f"{name}={value}" if value else name)
    for kind in ("http", "grpc", "metrics"):
        if not any(a.startswith(f"--{kind}-address") for a in args):
            args.append(f"--{kind}-address=127.0.0.1")
    command = [str(binary.binary), *args, f"--backend-directory={binary.backend_dir}"]
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=binary.environ())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                url = f"http://127.0.0.1:{ports['http']}/v2/health/ready"
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("not ready in 60 s: " + (tmp_path / "server.log").read_text()[-3000:])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.triton
def test_dockerfile_cmd_flags_start_a_real_server(tmp_path):
    import json

    (cmd,) = [rest for ins, rest in dockerfile() if ins == "CMD"]
    program, *flags = json.loads(cmd)
    assert program == "tritonserver"
    _run_flags(flags, tmp_path)


@pytest.mark.triton
def test_deployment_args_start_a_real_server(tmp_path):
    container = pod_spec("Deployment")["containers"][0]
    _run_flags(container["args"], tmp_path)


def test_regular_install_finds_the_model_sources(tmp_path):
    """What the image does: `pip install .` (not editable), then `tts-export repository`."""
    import os
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(root / "pyproject.toml", src)
    for folder in ("vits2", "export", "client", "model_repository", "benchmarks"):
        shutil.copytree(root / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "w"), "."]
    subprocess.run(build, cwd=src, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "w").glob("*.whl")
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    probe = (
        "import tts_export.repository as r; "
        "print(r.__file__); print((r.MODEL_SOURCES / 'frontend' / 'model.py').is_file())"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    where, found = out.stdout.split()
    assert where.startswith(str(site)), f"imported {where}, not the installed copy"
    assert found == "True", "the installed tts-export cannot find the frontend's model.py"
