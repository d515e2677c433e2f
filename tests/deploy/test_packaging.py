"""Packaging: the container image recipe, the compose stack and the Kubernetes manifests, checked offline.

Docker, kubectl and a cluster are absent here, so the files are checked against their schemas instead:
the Compose specification's JSON schema (vendored by ``check-jsonschema``), the Kubernetes API's schemas
(``kubernetes-validate``, strict mode: unknown fields fail) and, for the custom resources (ServiceMonitor,
KEDA ScaledObject and TriggerAuthentication, Kustomization), minimal schemas written here from the CRDs'
documentation: required fields, types and no unknown fields at the levels used. The configuration files that
the stack and the manifests give twinwatch are loaded by the service's own validator.
"""

from __future__ import annotations

import json
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy._support import DEPLOY, REPO, RULE_FILES

COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
K8S = DEPLOY / "k8s"


def _k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                out.append((path.name, doc))
    return out


# ----------------------------------------------------------------------------- Dockerfile
def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    ins = _dockerfile()
    froms = [a for i, a in ins if i == "FROM"]
    assert len(froms) >= 2 and all(f.startswith("${PYTHON_IMAGE}") for f in froms), froms
    args = dict(a.split("=", 1) for i, a in ins if i == "ARG" and "=" in a)
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    users = [a for i, a in ins if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"the image must not run as root: {users}"
    health = [a for i, a in ins if i == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0] and "9464" in health[0]
    assert any(i == "COPY" and a.startswith("--from=build") for i, a in ins), "runtime stage copies the build venv"
    assert [a for i, a in ins if i == "EXPOSE"] == ["9464"]


def test_dockerfile_pins_the_cpu_torch_of_the_project() -> None:
    """The torch pin equals pyproject.toml's, and comes from the CPU-only index."""
    pins = re.findall(r'"torch==([^"]+)"', (REPO / "pyproject.toml").read_text())
    args = dict(a.split("=", 1) for i, a in _dockerfile() if i == "ARG" and "=" in a)
    assert pins and args["TORCH_VERSION"] == pins[0]
    assert args["TORCH_INDEX_URL"].endswith("/whl/cpu")


def test_image_listens_on_all_addresses_only_inside_the_container() -> None:
    """The image sets metrics.bind to 0.0.0.0:9464 explicitly; the service's own default stays loopback."""
    from twinwatch.stream.config import load_config

    env = {}
    for i, a in _dockerfile():
        if i == "ENV":
            env.update(dict(kv.split("=", 1) for kv in shlex.split(a) if "=" in kv))
    assert env["TWINWATCH_METRICS__BIND"] == "0.0.0.0:9464"
    assert load_config(None, env={}).metrics.bind.startswith("127.0.0.1:")
    cfg = load_config(REPO / "stream" / "data" / "twinwatch.example.yaml",
                      env={"TWINWATCH_METRICS__BIND": env["TWINWATCH_METRICS__BIND"]})
    assert cfg.metrics.host_port == ("0.0.0.0", 9464)


def test_the_build_context_carries_the_package_and_its_checkpoint() -> None:
    """Dockerfile.dockerignore lets in the four packages (the checkpoint is package data of twin)."""
    lines = [x for x in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if x and not x.startswith("#")]
    assert lines[0] == "*"
    for pkg in ("stream/", "twin/", "detectors/", "telemetry_adapters/", "pyproject.toml"):
        assert f"!{pkg}" in lines
    assert (REPO / "twin" / "data" / "checkpoints" / "gnn" / "model.safetensors").is_file()
    data = (REPO / "pyproject.toml").read_text()
    assert '"data/**/*"' in data, "twin's package data must include the checkpoint folder"


# ----------------------------------------------------------------------------- compose
def _compose_schema() -> dict[str, Any]:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (the Compose schema) is in the `deploy` "
                        "extra: pip install -e '.[deploy]'")
    text = (resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text()
    return json.loads(text)


def _compose_errors(doc: dict[str, Any]) -> list[str]:
    schema = _compose_schema()
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_compose_file_matches_the_compose_specification() -> None:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert _compose_errors(doc) == []


def test_the_compose_schema_check_catches_a_typo() -> None:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    doc["services"]["twinwatch"]["helthcheck"] = {"test": ["CMD", "true"]}
    assert any("helthcheck" in e for e in _compose_errors(doc))


def test_compose_stack_has_every_component_on_loopback_ports() -> None:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = doc["services"]
    assert {"kafka", "gnmic", "twinwatch", "prometheus", "alertmanager", "grafana"} <= set(services)
    kafka_env = services["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"] and "KAFKA_ZOOKEEPER_CONNECT" not in kafka_env
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"service {name}: port {port} is not bound to loopback"
    # Every mounted host path exists in the repository.
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if src.startswith("."):
                assert (COMPOSE.parent / src).exists(), f"service {name}: mounted path {src} does not exist"
    build = services["twinwatch"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def test_compose_twinwatch_configuration_is_valid_for_the_service() -> None:
    from twinwatch.stream.config import load_config

    cfg = load_config(DEPLOY / "compose" / "twinwatch.yaml", env={"TWINWATCH_METRICS__BIND": "0.0.0.0:9464"})
    assert cfg.kafka.bootstrap == "kafka:9092"
    assert cfg.sinks.alertmanager_url == "http://alertmanager:9093"


def test_compose_prometheus_scrapes_twinwatch_and_loads_every_rule_file() -> None:
    prom = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    assert jobs["twinwatch"]["static_configs"][0]["targets"] == ["twinwatch:9464"]
    assert prom["rule_files"] == ["rules/*.yml"] and len(RULE_FILES) == 2


def test_gnmic_writes_the_topic_and_format_twinwatch_reads() -> None:
    from twinwatch.stream.config import load_config

    gnmic = yaml.safe_load((DEPLOY / "compose" / "gnmic.yaml").read_text())
    out = gnmic["outputs"]["kafka"]
    cfg = load_config(DEPLOY / "compose" / "twinwatch.yaml", env={})
    assert out["type"] == "kafka" and out["format"] == "event"
    assert out["topic"] == cfg.topics.raw_topic("gnmic") and "gnmic" in cfg.topics.formats


def test_every_leaf_gnmic_subscribes_to_is_one_the_adapters_read() -> None:
    """The leaves the compose stack subscribes to (state, speeds, IGP metrics; OpenConfig and Nokia SR OS) map to
    their fields, and a counter under each counters container maps to a counter (a renamed or mistyped path would
    be silently unmapped); every subscription is one a target lists."""
    from twinwatch.telemetry_adapters.paths import FIELD_NAMES, PathMapper

    gnmic = yaml.safe_load((DEPLOY / "compose" / "gnmic.yaml").read_text())
    mapper = PathMapper()
    containers = ("/counters", "/statistics")
    fields = {name: sorted({FIELD_NAMES[mapper[p]] for p in sub["paths"] if not p.endswith(containers)})
              for name, sub in gnmic["subscriptions"].items()}  # fmt: skip
    assert fields == {"interfaces": ["oper_status"], "speeds": ["speed_bps"], "igp-metrics": ["igp_metric"],
                      "sros-ports": ["oper_status"], "sros-speeds": ["speed_bps"]}
    counters = [p for sub in gnmic["subscriptions"].values() for p in sub["paths"] if p.endswith(containers)]
    assert counters and all(FIELD_NAMES[mapper[p + "/in-octets"]] == "rx_octets" for p in counters)
    listed = {s for t in gnmic["targets"].values() for s in t["subscriptions"]}
    assert listed == {"interfaces", "speeds", "igp-metrics"}  # the SR OS ones: the commented-out SR OS target's
    text = (DEPLOY / "compose" / "gnmic.yaml").read_text()
    assert "#   subscriptions: [sros-ports, sros-speeds, igp-metrics]" in text


# ----------------------------------------------------------------------------- Kubernetes
_META = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"},
                                                                 "labels": {"type": "object"}}}
_SELECTOR = {"type": "object", "properties": {"matchLabels": {"type": "object"}}}
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "properties": {
            "metadata": _META,
            "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
                     "properties": {
                         "selector": _SELECTOR, "jobLabel": {"type": "string"},
                         "namespaceSelector": {"type": "object", "properties": {
                             "matchNames": {"type": "array", "items": {"type": "string"}}, "any": {"type": "boolean"}}},
                         "endpoints": {"type": "array", "minItems": 1, "items": {
                             "type": "object", "additionalProperties": False, "properties": {
                                 "port": {"type": "string"}, "path": {"type": "string"},
                                 "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                 "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                 "scheme": {"enum": ["http", "https"]}}}}}}}},
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "properties": {
            "metadata": _META,
            "spec": {"type": "object", "required": ["scaleTargetRef", "triggers"], "additionalProperties": False,
                     "properties": {
                         "scaleTargetRef": {"type": "object", "required": ["name"]},
                         "minReplicaCount": {"type": "integer", "minimum": 0},
                         "maxReplicaCount": {"type": "integer", "minimum": 1},
                         "pollingInterval": {"type": "integer"}, "cooldownPeriod": {"type": "integer"},
                         "advanced": {"type": "object"},
                         "triggers": {"type": "array", "minItems": 1, "items": {
                             "type": "object", "required": ["type", "metadata"], "additionalProperties": False,
                             "properties": {"type": {"type": "string"}, "name": {"type": "string"},
                                            "metadata": {"type": "object",
                                                         "additionalProperties": {"type": "string"}},
                                            "authenticationRef": {"type": "object", "required": ["name"]}}}}}}}},
    ("keda.sh/v1alpha1", "TriggerAuthentication"): {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "properties": {
            "metadata": _META,
            "spec": {"type": "object", "additionalProperties": False, "properties": {
                "secretTargetRef": {"type": "array", "items": {
                    "type": "object", "required": ["parameter", "name", "key"], "additionalProperties": False,
                    "properties": {"parameter": {"type": "string"}, "name": {"type": "string"},
                                   "key": {"type": "string"}}}}}}}},
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): {
        "type": "object", "required": ["resources"], "properties": {
            "namespace": {"type": "string"}, "resources": {"type": "array", "items": {"type": "string"}},
            "labels": {"type": "array"}}},
}


def test_kubernetes_manifests_match_their_schemas() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is in the `deploy` extra: "
                             "pip install -e '.[deploy]'")
    seen = set()
    for name, doc in _k8s_documents():
        key = (doc["apiVersion"], doc["kind"])
        seen.add(doc["kind"])
        if key in CRD_SCHEMAS:
            errors = [e.message for e in jsonschema.Draft7Validator(CRD_SCHEMAS[key]).iter_errors(doc)]
            assert errors == [], f"{name}: {doc['kind']}: {errors}"
        else:
            try:
                kv.validate(doc, kv.latest_version(), strict=True)
            except kv.ValidationError as exc:
                pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert {"Deployment", "Service", "ServiceMonitor", "PodDisruptionBudget", "ConfigMap", "Secret",
            "ScaledObject"} <= seen


def test_the_kubernetes_schema_check_catches_a_typo() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is in the `deploy` extra")
    doc = yaml.safe_load((K8S / "deployment.yaml").read_text())
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(doc, kv.latest_version(), strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def test_manifests_wire_together() -> None:
    """Selectors, ports, the probe paths, the config key and the secret keys refer to each other correctly."""
    docs = {(d["kind"], d["metadata"]["name"] if "metadata" in d else n): d for n, d in _k8s_documents()}
    dep = docs[("Deployment", "twinwatch")]
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    svc = docs[("Service", "twinwatch")]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert docs[("PodDisruptionBudget", "twinwatch")]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    sm = docs[("ServiceMonitor", "twinwatch")]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert {p["name"] for p in svc["spec"]["ports"]} >= {e["port"] for e in sm["spec"]["endpoints"]}
    c = pod["spec"]["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"name": "TWINWATCH_METRICS__BIND", "value": "0.0.0.0:9464"} in c["env"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    secret = docs[("Secret", "twinwatch-kafka")]["stringData"]
    vol = next(v for v in pod["spec"]["volumes"] if "secret" in v)
    assert {i["key"] for i in vol["secret"]["items"]} <= set(secret)
    auth = docs[("TriggerAuthentication", "twinwatch-kafka")]
    assert {r["key"] for r in auth["spec"]["secretTargetRef"]} <= set(secret)
    so = docs[("ScaledObject", "twinwatch")]
    assert so["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]


def test_configmap_configuration_is_valid_for_the_service(tmp_path: Path) -> None:
    """The ConfigMap's twinwatch.yaml passes the service's validator once the Secret's files exist."""
    from twinwatch.stream.config import load_config

    docs = {(d["kind"], d["metadata"]["name"]): d for _, d in _k8s_documents() if "metadata" in d}
    text = docs[("ConfigMap", "twinwatch-config")]["data"]["twinwatch.yaml"]
    secret = docs[("Secret", "twinwatch-kafka")]["stringData"]
    mount = "/etc/twinwatch/secrets/"
    for key in ("kafka-password", "ca.crt"):
        (tmp_path / key).write_text(secret[key], encoding="utf-8")
    cfg_file = tmp_path / "twinwatch.yaml"
    cfg_file.write_text(text.replace(mount, f"{tmp_path}/"), encoding="utf-8")
    cfg = load_config(cfg_file, env={})
    assert cfg.kafka.security_protocol == "SASL_SSL" and cfg.kafka.resolved_password() == secret["kafka-password"]
    so = docs[("ScaledObject", "twinwatch")]["spec"]["triggers"][0]["metadata"]
    assert so["consumerGroup"] == cfg.kafka.consumer_group and so["bootstrapServers"] == cfg.kafka.bootstrap
