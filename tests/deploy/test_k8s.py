"""deploy/k8s against the Kubernetes schemas (kubernetes-validate, offline), KEDA's ScaledObject structurally, and
the cross-references: selectors, named ports, probes on the health port, the tokens Secret, the image's ports."""

from __future__ import annotations

import json
import re
import shlex
import types

import pytest
import yaml

from edge_runtime.config import from_env
from server.config import ServerConfig
from tests.conftest import REPO

K8S = REPO / "deploy" / "k8s"
KUBERNETES = "1.37.0"
SECRET_EXAMPLES = ("tokens-secret.example.yaml", "fleet-central-secrets.example.yaml")  # not applied by kustomize
WORKLOADS = ("edge-ocr", "edge-ocr-central")  # the OCR server, the fleet central


def _kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _resources() -> list[dict]:
    docs = []
    for name in _kustomization()["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def _one(kind: str, name: str = "edge-ocr") -> dict:
    """The resource of ``kind`` named ``name``: edge-ocr (the OCR server) or edge-ocr-central (the fleet central)."""
    (found,) = [d for d in _resources() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def _examples(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _secret(name: str) -> dict:
    (found,) = [d for f in SECRET_EXAMPLES for d in _examples(f) if d["metadata"]["name"] == name]
    return found


def _image_env() -> dict[str, str]:
    """ENV of Dockerfile.edge's final stage."""
    text = (REPO / "Dockerfile.edge").read_text().replace("\\\n", " ")
    final = text.split("AS runtime", 1)[1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def test_every_resource_file_exists_and_has_a_kind() -> None:
    for name in _kustomization()["resources"]:
        assert (K8S / name).is_file(), name
    kinds = sorted(d["kind"] for d in _resources())
    assert kinds == sorted(
        ["Namespace", "ScaledObject"] + 2 * ["Deployment", "Service", "Service", "PodDisruptionBudget", "NetworkPolicy"]
    )


def test_built_in_kinds_match_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    docs = _resources() + [d for name in SECRET_EXAMPLES for d in _examples(name)]
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: no schema ships for it (checked below)
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)  # raises ValidationError
        checked += 1
    assert checked == len(docs) - 1


def test_a_broken_manifest_is_caught() -> None:
    import kubernetes_validate

    deployment = _one("Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memroy"] = "1Gi"
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


@pytest.mark.parametrize("name", WORKLOADS)
def test_the_pod_is_locked_down_and_probed_on_grpc_health(name: str) -> None:
    deployment = _one("Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["tmp"]["name"]] and mounts["tmp"]["mountPath"] == "/tmp"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    image = _image_env()
    http = {"http": int(image["OCR_HTTP_PORT"])} if name == "edge-ocr" else {}  # central serves gRPC only
    assert ports == {
        "grpc": int(image["OCR_PORT"]),
        **http,
        "metrics": int(image["OCR_METRICS_PORT"]),
        "health": int(image["OCR_HEALTH_PORT"]),
    }
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == ports["health"], probe  # plain text: works with TLS on grpc
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["metrics"]
    # the memory ceiling drains before the kernel's OOM killer would act
    env = {e["name"]: e.get("value") for e in container["env"]}
    amount, unit = re.fullmatch(r"(\d+)(Gi|Mi)", container["resources"]["limits"]["memory"]).groups()
    limit_mib = int(amount) * (1024 if unit == "Gi" else 1)
    assert 0 < float(env["OCR_MAX_RSS_MB"]) < limit_mib
    assert pod["terminationGracePeriodSeconds"] > float(env["OCR_GRACE_S"])


def test_the_server_accepts_the_pods_configuration_thanks_to_the_tokens_secret() -> None:
    deployment = _one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {**_image_env(), **{e["name"]: e["value"] for e in container["env"] if "value" in e}}
    config = from_env(ServerConfig, environ=env)
    config.check_listen()  # [::] with a tokens file: accepted (without it: INSECURE_LISTEN)
    assert config.bind_host == "[::]" and "OCR_INSECURE" not in env
    mount = next(m for m in container["volumeMounts"] if config.tokens_file.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    example = yaml.safe_load((K8S / "tokens-secret.example.yaml").read_text())
    assert volume["secret"]["secretName"] == example["metadata"]["name"]
    assert config.tokens_file.rsplit("/", 1)[1] in example["stringData"]


@pytest.mark.parametrize("name", WORKLOADS)
def test_selectors_and_named_ports_line_up(name: str) -> None:
    deployment, service = _one("Deployment", name), _one("Service", name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    container_ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    assert "health" not in {p["targetPort"] for p in service["spec"]["ports"]}  # probes only
    assert _one("PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"].items() <= labels.items()
    policy = _one("NetworkPolicy", name)
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    served = {"grpc", "http", "metrics"} if name == "edge-ocr" else {"grpc", "metrics"}  # central: no HTTP
    assert {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]} == served
    assert _one("PodDisruptionBudget", name)["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    others = [d for d in _resources() if d["kind"] == "Deployment" and d["metadata"]["name"] != name]
    for other in others:  # a selector picks its own pods only (the two workloads share the name label)
        assert not service["spec"]["selector"].items() <= other["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("name", WORKLOADS)
def test_a_headless_service_lists_every_replica_for_grpc_clients(name: str) -> None:
    """Beside the ClusterIP Service (which balances connections), a headless one whose DNS name resolves to every
    ready pod, so a client's round_robin spreads calls (docs/scaling.md); gRPC only, declared as such."""
    service, headless = _one("Service", name), _one("Service", f"{name}-grpc")
    assert headless["spec"]["clusterIP"] == "None" and service["spec"].get("clusterIP") != "None"
    assert headless["spec"]["selector"] == service["spec"]["selector"]
    assert not headless["spec"].get("publishNotReadyAddresses", False)  # loading and draining pods stay out
    (port,) = headless["spec"]["ports"]
    assert (port["targetPort"], port["appProtocol"]) == ("grpc", "grpc")
    assert all(p["appProtocol"] == "grpc" for p in service["spec"]["ports"] if p["targetPort"] == "grpc")


def test_keda_scales_the_deployment_on_the_pending_work_gauge() -> None:
    from server.metrics import ServerMetrics

    scaled, deployment = _one("ScaledObject"), _one("Deployment")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] in ("AverageValue", "Value")
    meta = trigger["metadata"]
    assert meta["serverAddress"].startswith("http") and float(meta["threshold"]) > 0
    assert set(meta) <= {
        "serverAddress",
        "query",
        "threshold",
        "activationThreshold",
        "namespace",
        "authModes",
        "ignoreNullValues",
        "unsafeSsl",
        "customHeaders",
        "queryParameters",
    }
    names = set(re.findall(r"\b(ocr_[a-z_]+)\b", meta["query"]))
    assert names == {"ocr_pending_work"}
    metrics = ServerMetrics(process=False)  # the name is one the server exports
    metrics.bind(types.SimpleNamespace(batcher=None, stats=None, engine=None, ready=False))
    exported = {m.name for m in metrics.registry.collect()}
    assert names <= exported


def _env_of(deployment: dict) -> dict[str, str]:
    """The container's environment as the server sees it: the image's ENV, the values, the Secrets' keys (from the
    examples)."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = dict(_image_env())
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = _secret(ref["name"])["stringData"][ref["key"]]
    return env


def test_the_central_serves_only_the_fleet_from_postgresql_named_in_a_secret() -> None:
    deployment = _one("Deployment", "edge-ocr-central")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (store,) = [e for e in container["env"] if e["name"] == "OCR_FLEET_STORE"]
    assert "value" not in store and store["valueFrom"]["secretKeyRef"]["key"] == "url"  # the password stays out
    config = from_env(ServerConfig, environ=_env_of(deployment))
    config.check_listen()  # [::] with the tokens file
    assert config.serving_role == "central" and config.serves_fleet and not config.serves_ocr
    assert config.fleet_store_url.startswith("postgresql://") and config.fleet_retention_s == 30 * 86400
    pod = deployment["spec"]["template"]["spec"]
    mount = next(m for m in container["volumeMounts"] if config.tokens_file.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    tokens = _secret(volume["secret"]["secretName"])["stringData"][config.tokens_file.rsplit("/", 1)[1]]
    scopes = {s for grant in json.loads(tokens)["tokens"] for s in grant["scopes"]}
    assert "fleet.report" in scopes and not scopes & {"ocr.recognize", "ocr.stream"}


def test_the_central_is_not_scaled_on_the_ocr_signal() -> None:
    target = _one("ScaledObject")["spec"]["scaleTargetRef"]["name"]
    assert target == "edge-ocr" and _one("Deployment", "edge-ocr-central")["spec"]["replicas"] >= 2
