"""The files in deploy/: what each one promises, checked offline and without a cluster.

Kubernetes manifests validate against the 1.33 schemas (kubernetes-validate, strict); every
daemon TOML they embed is accepted by the daemon's own ``parse_config``; the Grafana
dashboard queries only metrics the daemon exports; the systemd unit is hardened.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import yaml
from prometheus_client import generate_latest

from tierfs_server.config import DaemonConfig, parse_config
from tierfs_server.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
K8S_VERSION = "1.33"
SAMPLE_POD_IP = "10.0.0.5"
GRACEFUL_SHUTDOWN_S = 30  # aiohttp's shutdown_timeout in tierfs_server.app.serve

MANIFESTS = sorted(p for p in KUBERNETES.rglob("*.yaml") if p.name != "kustomization.yaml")


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _resource(kind: str, name: str) -> dict:
    for path in MANIFESTS:
        for doc in _documents(path):
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise LookupError(f"no {kind} {name} under {KUBERNETES}")


def installed(raw: dict, root: Path) -> dict:
    """``raw`` with its host paths moved under ``root``, as the deployment would provide them.

    ``parse_config`` reads ``token_file`` and creates and probes tier directories, so the
    token file is written (a random token) and tier paths re-rooted; nothing else changes.
    """
    raw = copy.deepcopy(raw)
    server = raw.get("server", {})
    if "token_file" in server:
        token_file = root / PurePosixPath(server["token_file"]).relative_to("/")
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(secrets.token_hex(16) + "\n")
        server["token_file"] = str(token_file)
    for tier in raw.get("cache", {}).get("tiers", []):
        if "path" in tier:
            tier["path"] = str(root / PurePosixPath(tier["path"]).relative_to("/"))
    return raw


def _assert_no_credentials(raw: dict) -> None:
    assert "token" not in raw.get("server", {}), "a token belongs in a Secret (token_file)"
    for name, mount in raw["mounts"].items():
        options = mount.get("options", {})
        leaked = {"key", "secret", "token", "password"} & set(options)
        assert not leaked, f"mounts.{name}.options holds credentials {sorted(leaked)}"


# -- Kubernetes --------------------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(KUBERNETES)))
def test_kubernetes_manifest_validates_strictly(path):
    for doc in _documents(path):
        kubernetes_validate.validate(doc, f"{K8S_VERSION}.0", strict=True)


def test_kubernetes_validate_command_accepts_every_manifest():
    command = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run([str(command), "-k", K8S_VERSION, "--strict", "--quiet",
                             *map(str, MANIFESTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomization_applies_every_top_level_manifest():
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    top_level = {p.name for p in MANIFESTS if p.parent == KUBERNETES}
    assert set(kustomization["resources"]) == top_level


def _daemonset() -> dict:
    return _resource("DaemonSet", "tierfs-daemon")


def _pod_spec() -> dict:
    return _daemonset()["spec"]["template"]["spec"]


def _container(name: str) -> dict:
    spec = _pod_spec()
    for container in spec["containers"] + spec.get("initContainers", []):
        if container["name"] == name:
            return container
    raise LookupError(name)


def _configmap_toml() -> str:
    return _resource("ConfigMap", "tierfs-daemon-config")["data"]["daemon.toml"]


def _rendered_configmap_toml() -> str:
    """The config as the render-config init container writes it on a node."""
    template = _configmap_toml()
    script = " ".join(_container("render-config")["command"])
    assert "s/@POD_IP@/${POD_IP}/g" in script
    rendered = template.replace("@POD_IP@", SAMPLE_POD_IP)
    assert not re.search(r"@[A-Z_]+@", rendered), "a placeholder nothing fills in"
    return rendered


@pytest.fixture
def configmap_config(tmp_path) -> DaemonConfig:
    raw = tomllib.loads(_rendered_configmap_toml())
    _assert_no_credentials(raw)
    return parse_config(installed(raw, tmp_path))


def test_configmap_config_is_accepted_by_the_daemon(configmap_config):
    assert configmap_config.token is not None  # a non-loopback host is only legal with one
    assert configmap_config.host == "0.0.0.0"
    assert [tier.medium for tier in configmap_config.tiers] == ["memory", "ssd"]


def test_configmap_peers_resolve_the_headless_service_and_name_this_node(configmap_config):
    service = _resource("Service", "tierfs-peers")
    fqdn = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert service["spec"]["clusterIP"] == "None"
    assert configmap_config.peers.dns == f"{fqdn}:{configmap_config.port}"
    # the exact form PeerSet._resolve builds for every address the name resolves to
    assert configmap_config.peers.self_url == f"http://{SAMPLE_POD_IP}:{configmap_config.port}"
    assert service["spec"]["ports"][0]["port"] == configmap_config.port


def test_headless_service_selects_the_daemon_pods():
    service = _resource("Service", "tierfs-peers")
    labels = _daemonset()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def _mounts_by_path(container: dict) -> dict[str, dict]:
    volumes = {v["name"]: v for v in _pod_spec()["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}


def _volume_holding(path: str, container: dict) -> tuple[str, dict]:
    for mount_path, volume in _mounts_by_path(container).items():
        if PurePosixPath(path).is_relative_to(mount_path):
            return mount_path, volume
    raise AssertionError(f"{path} is on no volume of container {container['name']}")


def test_daemonset_mounts_every_path_the_config_names(tmp_path):
    raw = tomllib.loads(_rendered_configmap_toml())
    daemon = _container("daemon")
    _, token_volume = _volume_holding(raw["server"]["token_file"], daemon)
    assert token_volume["secret"]["secretName"] == "tierfs-token"
    _, socket_volume = _volume_holding(raw["server"]["unix_socket"], daemon)
    assert "hostPath" in socket_volume  # shared with the node's other pods
    for tier in raw["cache"]["tiers"]:
        if "path" in tier:
            mount_path, volume = _volume_holding(tier["path"], daemon)
            # the same path inside as on the host, so a client pod can mount it identically
            assert volume["hostPath"]["path"] == mount_path


def test_client_pods_share_only_the_socket_directory_and_run_as_another_user():
    raw = tomllib.loads(_rendered_configmap_toml())
    sockets = {PurePosixPath(raw["server"][name]).parent for name in ("unix_socket",
                                                                      "fd_socket")}
    assert len(sockets) == 1  # one hostPath gives a pod both sockets
    pod = _documents(KUBERNETES / "examples" / "client-pod.yaml")[0]["spec"]
    host_paths = {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert host_paths == {str(path) for path in sockets}  # no tier directory
    assert pod["securityContext"]["runAsUser"] not in (0, _pod_spec()["securityContext"][
        "runAsUser"])
    assert "chmod 0755 /run/tierfs" in " ".join(_container("prepare-host-dirs")["command"])


def test_daemon_reads_the_config_that_render_config_writes():
    command = _container("daemon")["command"]
    config_path = command[command.index("--config") + 1]
    render = _container("render-config")
    script = " ".join(render["command"])
    assert f"> {config_path}" in script
    _, written = _volume_holding(config_path, render)
    _, read = _volume_holding(config_path, _container("daemon"))
    assert written["name"] == read["name"] and "emptyDir" in written
    template_path, template = _volume_holding("/etc/tierfs-template/daemon.toml", render)
    assert template["configMap"]["name"] == "tierfs-daemon-config"
    assert f"{template_path}/daemon.toml" in script


def test_daemonset_probes_healthz_on_the_configured_port(configmap_config):
    daemon = _container("daemon")
    ports = {p["name"]: p["containerPort"] for p in daemon["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        check = daemon[probe]["httpGet"]
        assert check["path"] == "/healthz"  # the one route that needs no token
        assert ports[check["port"]] == configmap_config.port


def test_daemonset_exposes_the_configured_data_port(configmap_config):
    data = {p["name"]: p for p in _container("daemon")["ports"]}["data"]
    assert configmap_config.block_port not in (None, 0, configmap_config.port)
    assert data["containerPort"] == data["hostPort"] == configmap_config.block_port


def test_daemonset_uses_the_node_network_and_cluster_dns():
    spec = _pod_spec()
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"  # else peers.dns cannot resolve


def test_daemonset_grace_period_outlasts_the_graceful_shutdown():
    assert _pod_spec()["terminationGracePeriodSeconds"] > GRACEFUL_SHUTDOWN_S


def test_daemon_runs_as_non_root_with_resource_limits():
    spec = _pod_spec()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    for container in spec["containers"] + spec["initContainers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert "ALL" in context["capabilities"]["drop"]
        assert {"requests", "limits"} <= set(container["resources"])
        if context.get("runAsUser") == 0:
            assert container["name"] == "prepare-host-dirs"
            assert set(context["capabilities"]["add"]) == {"CHOWN", "FOWNER"}


def test_s3_credentials_come_from_a_secret():
    env = {e["name"]: e for e in _container("daemon")["env"]}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "tierfs-s3"


def test_no_secret_objects_are_shipped():
    kinds = {doc["kind"] for path in MANIFESTS for doc in _documents(path)}
    assert "Secret" not in kinds  # created by the operator: see deploy/README.md


# -- docker compose ----------------------------------------------------------------------


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())


def test_compose_daemon_config_is_accepted_by_the_daemon(tmp_path):
    compose = _compose()
    raw = tomllib.loads(compose["configs"]["tierfs-daemon"]["content"])
    _assert_no_credentials(raw)
    config = parse_config(installed(raw, tmp_path))
    assert config.token is not None and config.mounts[0].url == "s3://datasets"


def test_compose_daemon_gets_its_config_token_and_tier_volumes():
    compose = _compose()
    daemon = compose["services"]["tierfs-daemon"]
    raw = tomllib.loads(compose["configs"]["tierfs-daemon"]["content"])
    config_target = daemon["configs"][0]["target"]
    assert daemon["command"][daemon["command"].index("--config") + 1] == config_target
    secret_targets = {f"/run/secrets/{s['target']}" for s in daemon["secrets"]}
    assert raw["server"]["token_file"] in secret_targets
    mounted = {volume.split(":")[1] for volume in daemon["volumes"]}
    for tier in raw["cache"]["tiers"]:
        if "path" in tier:
            assert tier["path"] in mounted
    assert str(PurePosixPath(raw["server"]["unix_socket"]).parent) in mounted
    endpoint = raw["mounts"]["datasets"]["options"]["client_kwargs"]["endpoint_url"]
    assert endpoint.startswith("http://seaweedfs:")
    assert "seaweedfs" in compose["services"]


def test_compose_stop_grace_outlasts_the_graceful_shutdown():
    grace = _compose()["services"]["tierfs-daemon"]["stop_grace_period"]
    assert int(grace.rstrip("s")) > GRACEFUL_SHUTDOWN_S


# -- systemd -----------------------------------------------------------------------------

UNIT = DEPLOY / "systemd" / "tierfs-daemon.service"


def _unit() -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file; a key given more than once keeps every value."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _systemd_config() -> dict:
    return tomllib.loads((DEPLOY / "systemd" / "daemon.toml").read_text())


def test_systemd_unit_is_hardened_and_stops_gracefully():
    service = _unit()["Service"]
    assert "User" in service or service.get("DynamicUser") == ["yes"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["Restart"] == ["on-failure"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert int(service["TimeoutStopSec"][0].rstrip("s")) > GRACEFUL_SHUTDOWN_S
    assert "tierfs daemon --config" in service["ExecStart"][0]


def test_systemd_unit_may_write_every_tier_and_the_socket():
    writable = [p.lstrip("-") for line in _unit()["Service"]["ReadWritePaths"]
                for p in line.split()]
    raw = _systemd_config()
    needed = [tier["path"] for tier in raw["cache"]["tiers"] if "path" in tier]
    needed.append(str(PurePosixPath(raw["server"]["unix_socket"]).parent))
    for path in needed:
        assert any(PurePosixPath(path).is_relative_to(w) for w in writable), path


def test_systemd_config_is_accepted_and_reads_the_token_credential(tmp_path):
    raw = _systemd_config()
    _assert_no_credentials(raw)
    config = parse_config(installed(raw, tmp_path))
    assert config.peers.self_url in config.peers.members
    name = _unit()["Service"]["LoadCredential"][0].split(":")[0]
    assert raw["server"]["token_file"] == f"/run/credentials/{UNIT.name}/{name}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    tierfs = Path(sys.executable).with_name("tierfs")  # the unit names /opt/tierfs/bin/tierfs
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/tierfs/bin/tierfs", str(tierfs)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# -- Grafana -----------------------------------------------------------------------------


def _fake_stats() -> dict:
    return {"hits": 3, "misses": 1, "evictions": 0, "promotions": 1, "demotions": 0,
            "corrupt_blocks": 0, "under_store_bytes": 10, "under_store_requests": 1,
            "peer_bytes": 5, "peer_requests": 1, "requests": 4, "hit_ratio": 0.75,
            "tiers": [{"medium": "memory", "used": 1, "capacity": 2, "blocks": 1},
                      {"medium": "ssd", "used": 1, "capacity": 2, "blocks": 1}],
            "peers": [{"url": "http://10.0.0.6:7480", "self": False, "down": True}]}


def _exposition() -> tuple[set[str], set[str]]:
    """Metric and label names in the daemon's /metrics text, produced by its own Metrics."""
    metrics = Metrics()
    metrics.watch(_fake_stats)
    metrics.under_store_latency.observe(0.02)
    names, labels = set(), set()
    for line in generate_latest(metrics.registry).decode().splitlines():
        if line.startswith("#"):
            continue
        sample = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?", line)
        names.add(sample.group(1))
        labels |= set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', sample.group(3) or ""))
    return names, labels


def _dashboard() -> dict:
    return json.loads((DEPLOY / "grafana" / "tierfs-dashboard.json").read_text())


def _queries() -> list[str]:
    dashboard = _dashboard()
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["definition"])
    return queries


def test_dashboard_is_json_with_unique_panel_ids():
    dashboard = _dashboard()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"]


def test_dashboard_queries_only_metrics_the_daemon_exports():
    exported, _ = _exposition()
    for query in _queries():
        used = set(re.findall(r"\btierfs_[a-z0-9_]+\b", query))
        assert used, f"no tierfs metric in {query!r}"
        assert used <= exported, f"{sorted(used - exported)} are not exported; see /metrics"


def test_dashboard_groups_and_filters_only_by_exported_or_target_labels():
    _, exported = _exposition()
    known = exported | {"instance", "job"}
    for query in _queries():
        grouped = {label.strip() for by in re.findall(r"\bby \(([^)]*)\)", query)
                   for label in by.split(",")}
        matched = set(re.findall(r'\{([a-z_]+)=~?"', query))
        assert grouped | matched <= known, query


def test_dashboard_queries_have_balanced_brackets():
    pairs = {")": "(", "]": "[", "}": "{"}
    for query in _queries():
        stack = []
        for char in re.sub(r'"[^"]*"', '""', query):
            if char in "([{":
                stack.append(char)
            elif char in pairs:
                assert stack and stack.pop() == pairs[char], query
        assert not stack, query


def test_dashboard_shows_what_an_operator_needs():
    text = " ".join(_queries())
    for needed in ("tierfs_hits_total", "tierfs_misses_total", "tierfs_hit_ratio",
                   "tierfs_tier_used_bytes", "tierfs_tier_capacity_bytes",
                   "tierfs_under_store_bytes_total", "tierfs_under_store_seconds_bucket",
                   "tierfs_peer_bytes_total", "tierfs_peers_down"):
        assert needed in text, needed
    assert "histogram_quantile(0.99" in text
