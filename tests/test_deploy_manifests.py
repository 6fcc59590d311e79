"""The deployment files, checked offline: docker-compose.yml, the two Dockerfiles
and the Kubernetes manifests in deploy/kubernetes/ parse and agree with each
other (images, environment, socket volume, user, probes).  `make test-compose`
runs the compose file for real on a Docker engine.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import yaml  # python3-yaml, in the Makefile's DEB_PACKAGES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(REPO, "deploy", "kubernetes")


def interpolate(value: Any) -> Any:
    """A compose value with every ${NAME:-default} at its default (no variable set)."""
    if isinstance(value, str):
        value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", value)
        value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", "", value)
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with open(os.path.join(REPO, "docker-compose.yml")) as f:
        return interpolate(yaml.safe_load(f))


@pytest.fixture(scope="module")
def manifests() -> dict[str, list[dict[str, Any]]]:
    docs: dict[str, list[dict[str, Any]]] = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(K8S, name)) as f:
                docs[name] = [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


def objects(manifests: dict[str, list[dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [d for docs in manifests.values() for d in docs if d.get("kind") == kind]


def one(manifests: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    found = objects(manifests, kind)
    assert len(found) == 1, f"one {kind} expected, found {len(found)}"
    return found[0]


def containers(manifests: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    return {c["name"]: c for c in pod["containers"]}


def dockerfile(path: str) -> str:
    with open(os.path.join(REPO, path)) as f:
        return f.read()


# --- docker-compose.yml -----------------------------------------------------------------


def test_compose_has_the_two_services_sharing_the_socket_volume(compose):
    services = compose["services"]
    assert set(services) == {"frontend", "backend"}
    assert "version" not in compose, "no version key: Compose v2 calls it obsolete"
    volume_names = set(compose["volumes"])
    mounts = {}
    for name, svc in services.items():
        named = [v for v in svc["volumes"] if isinstance(v, str) and v.split(":")[0] in volume_names]
        assert len(named) == 1, f"{name}: one mount of the shared volume"
        mounts[name] = named[0]
    assert mounts["frontend"] == mounts["backend"] == "sockets:/run/tandem"
    fe, be = services["frontend"]["environment"], services["backend"]["environment"]
    assert fe["TANDEM_BACKEND_SOCKET"] == be["TANDEM_BACKEND_SOCKET"] == "/run/tandem/backend.sock"
    assert fe["TANDEM_BACKEND_SOCKET_MODE"] == "0600", "the socket stays private; the uids match instead"
    assert fe["TANDEM_LISTEN"] == "0.0.0.0:8080"
    assert services["frontend"]["ports"] == ["8080:8080"]
    assert int(fe["TANDEM_BACKEND_WAIT"]) >= 10, "requests wait out a backend replacement"


def test_compose_builds_both_images_for_one_user(compose):
    args = {name: svc["build"]["args"] for name, svc in compose["services"].items()}
    assert args["frontend"]["TANDEM_UID"] == args["backend"]["TANDEM_UID"] == "10001"
    assert args["frontend"]["TANDEM_GID"] == args["backend"]["TANDEM_GID"] == "10001"
    for name, svc in compose["services"].items():
        assert svc["build"]["context"] == "."
        assert svc["build"]["dockerfile"] == f"{name}/Dockerfile"
        assert svc["image"] == f"tandem-{name}:latest"
        assert svc["healthcheck"]["test"] == ["CMD", f"tandem-{name}-healthcheck"]
    # A superseded backend exits 0 and must not come back with its old code.
    assert compose["services"]["backend"]["restart"] == "on-failure"


def test_every_compose_setting_is_an_environment_variable():
    with open(os.path.join(REPO, "docker-compose.yml")) as f:
        raw = yaml.safe_load(f)
    for name, svc in raw["services"].items():
        assert "command" not in svc and "entrypoint" not in svc, f"{name}: settings go in environment:"
        for key in svc["environment"]:
            assert key.startswith("TANDEM_"), key


def test_dockerfiles_build_from_bookworm_slim_as_the_same_non_root_user():
    frontend, backend = dockerfile("frontend/Dockerfile"), dockerfile("backend/Dockerfile")
    assert re.findall(r"^FROM (\S+)", frontend, re.M) == ["debian:bookworm-slim", "debian:bookworm-slim"]
    assert re.findall(r"^FROM (\S+)", backend, re.M) == ["debian:bookworm-slim", "debian:bookworm-slim"]
    for text in (frontend, backend):
        assert "ARG TANDEM_UID=10001" in text and "ARG TANDEM_GID=10001" in text
        assert text.rstrip().count("USER ${TANDEM_UID}:${TANDEM_GID}") == 1
        assert "HEALTHCHECK" in text
    # The runtime stage has the shared libraries only.
    runtime = frontend.split("FROM debian:bookworm-slim\n")[1]
    assert "-dev" not in runtime and "gcc" not in runtime


def test_what_the_dockerfiles_copy_exists():
    for path in ("frontend/Dockerfile", "backend/Dockerfile"):
        for src in re.findall(r"^COPY (?!--from)(\S+)", dockerfile(path), re.M):
            src = re.sub(r"\$\{STATIC_SRC\}", "examples/public", src)
            src = re.sub(r"\$\{APP_SRC\}", "examples", src)
            assert os.path.exists(os.path.join(REPO, src)), f"{path}: COPY {src}"
    for script in ("frontend-healthcheck.sh", "backend-healthcheck.py", "backend-entrypoint.sh",
                   "debian-base-image.sh"):
        assert os.access(os.path.join(REPO, "deploy", "docker", script), os.X_OK), script


# --- deploy/kubernetes ------------------------------------------------------------------


def test_manifests_parse_and_are_all_listed(manifests):
    assert set(manifests) == {"deployment.yaml", "service.yaml", "hpa.yaml", "kustomization.yaml"}
    for name, docs in manifests.items():
        assert docs, name
        for d in docs:
            assert d.get("apiVersion") and d.get("kind"), name
            if d["kind"] != "Kustomization":
                assert d["metadata"]["name"] == "tandem", name
    kustomization = one(manifests, "Kustomization")
    assert sorted(kustomization["resources"]) == sorted(n for n in manifests if n != "kustomization.yaml")


def test_pod_is_the_compose_stack_as_sidecars(manifests, compose):
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    cs = containers(manifests)
    assert set(cs) == {"frontend", "backend"}
    socket_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    for name, c in cs.items():
        svc = compose["services"][name]
        assert c["image"] == svc["image"], name
        env = {e["name"]: e.get("value", "") for e in c["env"]}
        assert env == {k: str(v) for k, v in svc["environment"].items()}, f"{name}: env differs from compose"
        target = svc["volumes"][0].split(":")[1]
        mounts = [m for m in c["volumeMounts"] if m["mountPath"] == target]
        assert len(mounts) == 1 and mounts[0]["name"] in socket_volumes, f"{name}: socket emptyDir at {target}"
        assert c["readinessProbe"]["exec"]["command"] == svc["healthcheck"]["test"][1:], name
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
    # Both mount the same volume.
    assert {m["name"] for c in cs.values() for m in c["volumeMounts"] if m["mountPath"] == "/run/tandem"} \
        == {"sockets"}


def test_pod_runs_as_the_images_user(manifests, compose):
    ctx = one(manifests, "Deployment")["spec"]["template"]["spec"]["securityContext"]
    args = compose["services"]["frontend"]["build"]["args"]
    assert str(ctx["runAsUser"]) == args["TANDEM_UID"] and str(ctx["runAsGroup"]) == args["TANDEM_GID"]
    assert ctx["runAsNonRoot"] is True


def test_ports_service_and_shutdown_timing(manifests, compose):
    deployment = one(manifests, "Deployment")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    fe = containers(manifests)["frontend"]
    port = compose["services"]["frontend"]["ports"][0].split(":")[-1]
    assert [p["containerPort"] for p in fe["ports"]] == [int(port)]
    service = one(manifests, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    target = service["spec"]["ports"][0]["targetPort"]
    assert target in (fe["ports"][0]["name"], fe["ports"][0]["containerPort"])
    # The backend outlives the frontend's preStop, and the grace period covers both plus the drain.
    sleeps = {name: int(c["lifecycle"]["preStop"]["exec"]["command"][1]) for name, c in containers(manifests).items()}
    assert sleeps["backend"] > sleeps["frontend"]
    shutdown = int(compose["services"]["frontend"]["environment"]["TANDEM_SHUTDOWN_TIMEOUT"])
    assert pod["spec"]["terminationGracePeriodSeconds"] >= sleeps["backend"] + shutdown


def test_autoscaler_scales_the_deployment(manifests):
    hpa = one(manifests, "HorizontalPodAutoscaler")
    deployment = one(manifests, "Deployment")
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("apps/v1", "Deployment", deployment["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    # CPU utilization needs requests on every container.
    for c in containers(manifests).values():
        assert "cpu" in c["resources"]["requests"], c["name"]
