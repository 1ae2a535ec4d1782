"""The deployment checks pass on the real files and fail on each broken fixture.

The checks shell out to kustomize, checkov and hadolint installed by
``python -m hunt.ops.tools``; without them these tests skip, except under CI,
where a missing tool is a failed install step.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hunt.ops import k8s_check as kc

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
SCHEMAS = K8S / "schemas"
DASHBOARD = K8S / "components" / "grafana-dashboard" / "hunt-dashboard.json"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
TOOLS = kc.find_tools(ROOT)

Doc = dict[str, Any]


def _need(tool: Path | None, name: str) -> Path:
    if tool is None:
        message = f"{name} is not installed; run `python -m hunt.ops.tools`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return tool


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    kustomize = _need(TOOLS.kustomize, "kustomize")
    return {name: kc.render(kustomize, K8S / "overlays" / name) for name in OVERLAYS}


def _one(docs: list[Doc], kind: str, name_prefix: str = "") -> Doc:
    return next(
        d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name_prefix)
    )


def _worker(docs: list[Doc]) -> Doc:
    container: Doc = _one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    return container


# -- the real files pass ------------------------------------------------------------------------


def test_overlays_include_dev_prod_and_the_optional_components() -> None:
    assert {"dev", "prod", "prod-autoscaled"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_real_overlay_passes_schemas_invariants_and_dashboard(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    assert kc.kubernetes_schema_problems(docs, SCHEMAS) == []
    assert kc.invariant_problems(docs) == []
    assert kc.dashboard_problems(DASHBOARD, docs) == []


def test_custom_resources_are_checked_against_vendored_schemas(
    rendered: dict[str, list[Doc]],
) -> None:
    kinds = {d["kind"] for d in rendered["prod-autoscaled"]}
    assert {"PodMonitor", "ScaledObject", "TriggerAuthentication"} <= kinds


def test_real_manifests_and_dockerfile_pass_policy(
    rendered: dict[str, list[Doc]], tmp_path: Path
) -> None:
    checkov = _need(TOOLS.checkov, "checkov")
    files = [_dump(tmp_path / f"{name}.yaml", docs) for name, docs in rendered.items()]
    assert kc.policy_problems(checkov, [*files, ROOT / "Dockerfile"], K8S / "checkov.yaml") == []


def test_real_dockerfile_passes() -> None:
    assert kc.dockerfile_problems(ROOT / "Dockerfile", _need(TOOLS.hadolint, "hadolint")) == []


def test_main_passes_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    for tool, name in ((TOOLS.kustomize, "kustomize"), (TOOLS.checkov, "checkov")):
        _need(tool, name)
    assert kc.main(["--root", str(ROOT)]) == 0, capsys.readouterr().out


# -- each broken fixture fails its check --------------------------------------------------------


def test_broken_kustomization_fails_render_and_main(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kustomize = _need(TOOLS.kustomize, "kustomize")
    _need(TOOLS.checkov, "checkov")
    repo = _copy_repo(tmp_path)
    dev = repo / "k8s" / "overlays" / "dev" / "kustomization.yaml"
    dev.write_text(dev.read_text().replace("  - namespace.yaml\n", "  - no-such-file.yaml\n"))
    with pytest.raises(kc.CheckError, match="no-such-file"):
        kc.render(kustomize, dev.parent)
    assert kc.main(["--root", str(repo)]) == 1
    assert "FAIL overlay dev: render" in capsys.readouterr().out


def _edit_worker(field: str, value: object) -> Callable[[list[Doc]], None]:
    def edit(docs: list[Doc]) -> None:
        _worker(docs)[field] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # A typo kubectl --validate=strict would reject.
        (_edit_worker("imagePullPolcy", "Always"), "imagePullPolcy"),
        (
            lambda docs: _one(docs, "StatefulSet")["spec"].__setitem__("replicas", "three"),
            "'three' is not of type 'integer'",
        ),
        (
            lambda docs: docs.append(
                {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
            ),
            "no schema for example.com/v1 Widget",
        ),
        (
            lambda docs: _one(docs, "ScaledObject")["spec"].__setitem__("maxReplicaCount", "8"),
            "'8' is not of type 'integer'",
        ),
        (
            lambda docs: _one(docs, "ScaledObject")["spec"].__setitem__("maxReplicas", 8),
            "'maxReplicas' was unexpected",
        ),
        (lambda docs: _one(docs, "PodMonitor")["spec"].pop("selector"), "'selector' is a required"),
    ],
    ids=[
        "unknown-field",
        "wrong-type",
        "unknown-kind",
        "crd-wrong-type",
        "crd-unknown-field",
        "crd-missing-required",
    ],
)
def test_broken_manifest_fails_schemas(
    rendered: dict[str, list[Doc]], edit: Callable[[list[Doc]], None], expected: str
) -> None:
    docs = copy.deepcopy(rendered["prod-autoscaled"])
    edit(docs)
    problems = kc.kubernetes_schema_problems(docs, SCHEMAS)
    assert any(expected in p for p in problems), problems


def _set_sts(path: str, value: object) -> Callable[[list[Doc]], None]:
    def edit(docs: list[Doc]) -> None:
        node: Any = _one(docs, "StatefulSet")
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[leaf] = value

    return edit


def _set_env(name: str, value: str) -> Callable[[list[Doc]], None]:
    def edit(docs: list[Doc]) -> None:
        for e in _worker(docs)["env"]:
            if e["name"] == name:
                e["value"] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_set_sts("spec.podManagementPolicy", "OrderedReady"), "must be Parallel"),
        (_set_env("HUNT_CANONICAL_URL", "http://localhost:6066"), "HUNT_CANONICAL_URL"),
        (
            _set_sts("spec.template.spec.containers.0.resources.limits.memory", "512Mi"),
            "above HUNT_MEMORY_BUDGET_MIB=512",
        ),
        (
            lambda docs: _one(docs, "ScaledObject")["spec"].__setitem__("maxReplicaCount", 16),
            "exceeds HUNT_PARTITIONS=8",
        ),
        (
            lambda docs: _one(docs, "Service", "hunt-headless")["spec"].pop(
                "publishNotReadyAddresses"
            ),
            "publishNotReadyAddresses",
        ),
        (
            _set_sts("spec.template.spec.containers.0.volumeMounts", []),
            "HUNT_DATA_DIR '/var/lib/hunt' is not on a volumeClaimTemplate",
        ),
        (_set_sts("spec.template.spec.terminationGracePeriodSeconds", 10), "graceful stop"),
        (lambda docs: docs.remove(_one(docs, "PodDisruptionBudget")), "PodDisruptionBudget"),
    ],
    ids=[
        "ordered-ready",
        "canonical-url",
        "memory-limit",
        "keda-over-partitions",
        "headless-not-ready",
        "no-data-volume",
        "short-grace",
        "no-pdb",
    ],
)
def test_broken_manifest_fails_invariants(
    rendered: dict[str, list[Doc]], edit: Callable[[list[Doc]], None], expected: str
) -> None:
    docs = copy.deepcopy(rendered["prod-autoscaled"])
    edit(docs)
    problems = kc.invariant_problems(docs)
    assert any(expected in p for p in problems), problems


def test_privileged_root_container_fails_policy(
    rendered: dict[str, list[Doc]], tmp_path: Path
) -> None:
    checkov = _need(TOOLS.checkov, "checkov")
    docs = copy.deepcopy(rendered["prod"])
    _worker(docs)["securityContext"] = {"privileged": True, "runAsUser": 0}
    problems = kc.policy_problems(
        checkov, [_dump(tmp_path / "bad.yaml", docs)], K8S / "checkov.yaml"
    )
    assert any("CKV_K8S_16" in p for p in problems), problems  # privileged container


BROKEN_DOCKERFILE = """\
FROM python:latest
RUN apt-get update && apt-get install -y openjdk-17-jre-headless
COPY . /app
RUN pip install /app
CMD hunt broker
"""


def test_broken_dockerfile_fails(tmp_path: Path) -> None:
    hadolint = _need(TOOLS.hadolint, "hadolint")
    path = tmp_path / "Dockerfile"
    path.write_text(BROKEN_DOCKERFILE)
    problems = "\n".join(kc.dockerfile_problems(path, hadolint))
    for expected in (
        "hadolint:",  # unpinned apt packages, `latest`, shell-form CMD...
        "not multi-stage",
        "not a pinned python:3.11.N-slim",
        "non-root USER",
        "not `hunt worker`",
        "must not embed a Kafka broker or a JVM",
    ):
        assert expected in problems


def test_dockerfile_own_rules_fail_without_hadolint(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(BROKEN_DOCKERFILE)
    assert any("non-root USER" in p for p in kc.dockerfile_problems(path, None))


def test_dashboard_configmap_without_sidecar_label_fails(rendered: dict[str, list[Doc]]) -> None:
    docs = copy.deepcopy(rendered["prod"])
    cm = _one(docs, "ConfigMap", "hunt-grafana-dashboard")
    del cm["metadata"]["labels"]["grafana_dashboard"]
    problems = kc.dashboard_problems(DASHBOARD, docs)
    assert any("grafana_dashboard" in p for p in problems), problems


def test_dashboard_with_foreign_metric_or_empty_panel_fails(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panel = next(p for p in dashboard["panels"] if p.get("targets"))
    panel["targets"][0]["expr"] = 'sum(rate(kafka_consumergroup_lag{topic="x"}[5m]))'
    dashboard["panels"].append({"type": "timeseries", "title": "empty", "targets": []})
    path = _dump_json(tmp_path / "hunt-dashboard.json", dashboard)
    problems = "\n".join(kc.dashboard_problems(path))
    assert "kafka_consumergroup_lag" in problems
    assert "'empty' has no query" in problems


def test_broken_dashboard_json_fails(tmp_path: Path) -> None:
    path = tmp_path / "hunt-dashboard.json"
    path.write_text('{"panels": [')
    assert any("not JSON" in p for p in kc.dashboard_problems(path))


# -- dashboard metric names against /metrics ----------------------------------------------------

METRICS_TEXT = """\
# HELP hunt_events_total Input records by outcome
# TYPE hunt_events_total counter
hunt_events_total{topic="hunt.behavior",outcome="applied"} 3.0
# HELP hunt_processing_latency_seconds Processing latency
# TYPE hunt_processing_latency_seconds histogram
# HELP faust_messages_received_total Total messages received
# TYPE faust_messages_received_total counter
faust_messages_received_total 3.0
# HELP hunt_ready Ready
# TYPE hunt_ready gauge
hunt_ready 1.0
"""


def test_dashboard_metric_names_reads_every_query() -> None:
    names = kc.dashboard_metric_names(DASHBOARD)
    assert {
        "hunt_events_total",
        "hunt_consumer_lag",
        "hunt_processing_latency_seconds_bucket",
        "hunt_alerts_total",
        "faust_total_rebalances",
    } <= names
    assert not {"rate", "sum", "le", "by", "namespace", "histogram_quantile"} & names


def test_missing_metrics_accepts_samples_and_empty_families() -> None:
    names = {
        "hunt_events_total",
        "hunt_processing_latency_seconds_bucket",  # family declared, no sample yet
        "hunt_processing_latency_seconds_count",
        "faust_messages_received_total",
        "hunt_ready",
    }
    assert kc.missing_metrics(names, METRICS_TEXT) == set()


def test_missing_metrics_reports_a_metric_the_worker_does_not_export() -> None:
    names = {"hunt_ready", "hunt_events_totl", "faust_messages_received"}
    assert kc.missing_metrics(names, METRICS_TEXT) == {
        "hunt_events_totl",
        "faust_messages_received",
    }


def test_metric_names_ignore_labels_variables_functions_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, pod) (rate(a_bucket{x="y", z=~"$ns"}'
        "[$__rate_interval]))) / on(pod) group_left(kind) b offset 5m and c > bool 0"
    )
    assert kc._metric_names(expr) == {"a_bucket", "b", "c"}


# -- helpers ------------------------------------------------------------------------------------


def _dump(path: Path, docs: list[Doc]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def _dump_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def _copy_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(K8S, repo / "k8s")
    shutil.copy(ROOT / "Dockerfile", repo / "Dockerfile")
    return repo
