"""docker-compose as an operator expects: memory limits and rotated logs on every long-running
container, the broker on loopback only, the bootstrap admin and CORS passed through."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_every_container_has_a_memory_limit_and_rotated_logs():
    for name, service in _services().items():
        assert service.get("mem_limit"), f"{name}: no memory limit"
        logging = service.get("logging") or {}
        assert logging.get("driver") == "json-file" and logging["options"]["max-size"], f"{name}: logs not rotated"


def test_no_broker_port_faces_the_network():
    for port in _services()["rabbitmq"].get("ports", []):
        assert str(port).startswith("127.0.0.1:"), port


def test_bootstrap_admin_and_cors_are_configurable():
    services = _services()
    identity = services["identity"]["environment"]
    assert {"PORTAL_BOOTSTRAP_ADMIN_EMAIL", "PORTAL_BOOTSTRAP_ADMIN_PASSWORD"} <= set(identity)
    assert "PORTAL_CORS_ORIGINS" in services["gateway"]["environment"]
    for name, service in services.items():
        if name not in ("identity", "seed-api"):  # identity makes the admin, the API seed signs in with it
            assert "PORTAL_BOOTSTRAP_ADMIN_PASSWORD" not in (service.get("environment") or {}), name


# --- Kubernetes ---------------------------------------------------------------------------------

APPS = ("identity", "contacts", "cases", "billing", "gateway")


def _k8s() -> list[dict]:
    k8s = ROOT / "deploy" / "k8s"
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    return [d for r in kustomization["resources"] for d in yaml.safe_load_all((k8s / r).read_text()) if d]


def _of_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _k8s() if d["kind"] == kind}


def test_k8s_pods_have_their_own_account_startup_probe_cpu_limit_and_a_version_tag():
    accounts = _of_kind("ServiceAccount")
    for name, deployment in _of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name and pod["automountServiceAccountToken"] is False
        assert accounts[name]["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        assert container["startupProbe"], name
        assert container["resources"]["limits"]["cpu"], name
        assert not container["image"].endswith(":latest") and ":" in container["image"], name
    kustomization = yaml.safe_load((ROOT / "deploy" / "k8s" / "kustomization.yaml").read_text())
    for image in kustomization["images"]:
        assert image.get("newDigest") or image["newTag"] != "latest"


def test_k8s_disruption_budgets_autoscaler_ingress_and_headless_grpc():
    assert set(_of_kind("PodDisruptionBudget")) == set(APPS)
    (hpa,) = _of_kind("HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway" and hpa["spec"]["minReplicas"] >= 2
    (ingress,) = _of_kind("Ingress").values()
    assert "proxy-read-timeout" in " ".join(ingress["metadata"]["annotations"])  # WebSockets stay open
    for name, service in _of_kind("Service").items():
        if name != "gateway":  # each pod is an address; the gateway's channel balances round_robin
            assert service["spec"]["clusterIP"] == "None", name


def test_k8s_network_policies_deny_by_default_and_allow_the_paths_that_exist():
    policies = _of_kind("NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    gateway_egress = {p["port"] for rule in policies["gateway"]["spec"]["egress"] for p in rule["ports"]}
    assert {50051, 50052, 50053, 50054, 5672} <= gateway_egress
    for name in ("identity", "contacts", "cases", "billing"):
        spec = policies[name]["spec"]
        sources = [s["podSelector"]["matchLabels"] for s in spec["ingress"][0]["from"]]
        assert {"app.kubernetes.io/name": "gateway"} in sources
        egress_targets = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in spec["egress"]
            for peer in rule["to"]
        }
        assert {f"{name}-mongo", "rabbitmq"} <= egress_targets
        assert not {f"{other}-mongo" for other in APPS if other != name} & egress_targets


CHECKOV = "checkov==3.3.30"  # pinned; run in its own tool environment (uv), not in the project's


@pytest.mark.skipif(shutil.which("kubectl") is None or shutil.which("uv") is None, reason="needs kubectl and uv")
def test_policy_scanner_finds_nothing_in_the_built_manifests(tmp_path):
    built = tmp_path / "k8s.yaml"
    manifests = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy" / "k8s")], capture_output=True, text=True, timeout=60, check=True
    )
    built.write_text(manifests.stdout)
    scan = subprocess.run(
        [
            *("uv", "tool", "run", "--from", CHECKOV, "checkov", "-f", str(built), "--framework", "kubernetes"),
            *("--compact", "--skip-download", "--output", "json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(scan.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["passed"] > 100
    # every skip is one of the two justified next to each Deployment's metadata
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    assert skipped <= {"CKV_K8S_43", "CKV_K8S_35"}, skipped


def test_seed_runs_as_a_compose_service_and_a_k8s_job_through_the_api():
    seed = _services()["seed-api"]
    assert seed["command"] == ["-m", "devstack.seed_api"] and seed["restart"] == "no"
    assert seed["environment"]["PORTAL_SEED_GATEWAY_URL"] == "http://gateway:8000"
    (job,) = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "seed-job.yaml").read_text())
    assert job["kind"] == "Job"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["-m", "devstack.seed_api"]
    assert {e["name"] for e in container["env"]} >= {"PORTAL_SEED_GATEWAY_URL", "PORTAL_BOOTSTRAP_ADMIN_PASSWORD"}
