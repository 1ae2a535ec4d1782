"""Offline checks of the deployment files: ``python -m hunt.ops.k8s_check``.

Run by ``make k8s-check``. Each check returns a list of problems (empty when it
passes) so a test can feed it a broken fixture and see it fail:

- render: ``kustomize build`` of every overlay under ``k8s/overlays``;
- schemas: every rendered object against the Kubernetes JSON schemas shipped by
  ``kubernetes-validate`` in strict mode (unknown fields rejected), and custom
  resources (PodMonitor, ScaledObject, ...) against ``k8s/schemas/*.json``;
- invariants: what hunt needs of its manifests that no generic linter knows
  (Parallel StatefulSet, canonical URL on the headless Service, memory limit
  above HUNT_MEMORY_BUDGET_MIB, KEDA capped at the partition count, ...);
- policy: checkov on the rendered overlays and the Dockerfile, with the skipped
  rules justified in ``k8s/checkov.yaml``;
- dockerfile: hadolint plus hunt's own rules (pinned base, multi-stage,
  non-root, ``hunt worker`` as the process, no broker);
- dashboard: the Grafana JSON parses, each panel has queries, and the shipped
  ConfigMap carries the sidecar label.

With ``--metrics-url`` it also checks that every metric the dashboard queries
is exported by that live worker; the broker-backed tests do the same through
:func:`dashboard_metric_names` and :func:`missing_metrics`.

The tools come from ``python -m hunt.ops.tools`` (``.cache/bin/kustomize``,
``.cache/tools-venv/bin/{checkov,hadolint}``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "KUBERNETES_VERSION",
    "CheckError",
    "Tools",
    "custom_resource_problems",
    "dashboard_metric_names",
    "dashboard_problems",
    "dockerfile_problems",
    "find_tools",
    "invariant_problems",
    "kubernetes_schema_problems",
    "main",
    "missing_metrics",
    "policy_problems",
    "render",
]

ROOT = Path(__file__).resolve().parents[2]

# The oldest Kubernetes minor still supported by the major clouds when this was
# written; a manifest valid there is valid on newer clusters.
KUBERNETES_VERSION = "1.31.0"

# Headroom the container limit needs above HUNT_MEMORY_BUDGET_MIB for what the
# budget does not count (interpreter, imports, fetch buffers), in MiB.
MEMORY_HEADROOM_MIB = 128

Doc = dict[str, Any]


class CheckError(RuntimeError):
    """A check could not run at all (missing tool, unparsable file)."""


@dataclass(frozen=True)
class Tools:
    kustomize: Path | None
    checkov: Path | None
    hadolint: Path | None


def find_tools(root: Path = ROOT) -> Tools:
    """The project's own tools under ``.cache``, else the ones on PATH."""

    def pick(*candidates: Path | str | None) -> Path | None:
        for c in candidates:
            if c is None:
                continue
            p = Path(c)
            if p.is_file():
                return p
        return None

    cache = root / ".cache"
    return Tools(
        kustomize=pick(cache / "bin" / "kustomize", shutil.which("kustomize")),
        checkov=pick(cache / "tools-venv" / "bin" / "checkov", shutil.which("checkov")),
        hadolint=pick(cache / "tools-venv" / "bin" / "hadolint", shutil.which("hadolint")),
    )


def _run(cmd: Sequence[str | Path], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False
    )


# -- render -------------------------------------------------------------------------------------


def render(kustomize: Path, overlay: Path) -> list[Doc]:
    """``kustomize build overlay`` as a list of objects; raises CheckError if it fails."""
    import yaml  # dev dependency, like the schema checks'

    proc = _run([kustomize, "build", overlay])
    if proc.returncode != 0:
        raise CheckError(f"kustomize build {overlay} failed: {proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _name(doc: Doc) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('name')}"


# -- schemas ------------------------------------------------------------------------------------


def _crd_schemas(schema_dir: Path) -> dict[tuple[str, str], Doc]:
    """Vendored CRD schemas keyed by (apiVersion, kind), from their ``const``s."""
    out: dict[tuple[str, str], Doc] = {}
    for path in sorted(schema_dir.glob("*.json")):
        schema = json.loads(path.read_text())
        props = schema["properties"]
        out[(props["apiVersion"]["const"], props["kind"]["const"])] = schema
    return out


def kubernetes_schema_problems(
    docs: Iterable[Doc], schema_dir: Path, version: str = KUBERNETES_VERSION
) -> list[str]:
    """Built-in kinds against kubernetes-validate (strict); the rest against ``schema_dir``."""
    import kubernetes_validate  # dev dependency; imported here so the module loads without it
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

    crds = _crd_schemas(schema_dir)
    problems: list[str] = []
    for doc in docs:
        if (doc.get("apiVersion"), doc.get("kind")) in crds:
            problems += custom_resource_problems([doc], schema_dir)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except ValidationError as e:
            where = "/".join(str(p) for p in e.path)
            problems.append(f"{_name(doc)}: {where}: {e.message}")
        except SchemaNotFoundError:
            problems.append(
                f"{_name(doc)}: no schema for {doc.get('apiVersion')} {doc.get('kind')} "
                f"(Kubernetes {version}, nor in {schema_dir})"
            )
    return problems


def custom_resource_problems(docs: Iterable[Doc], schema_dir: Path) -> list[str]:
    """Custom resources against the vendored CRD schemas in ``schema_dir``."""
    import jsonschema

    crds = _crd_schemas(schema_dir)
    problems: list[str] = []
    for doc in docs:
        schema = crds.get((doc.get("apiVersion", ""), doc.get("kind", "")))
        if schema is None:
            problems.append(f"{_name(doc)}: no vendored schema in {schema_dir}")
            continue
        for err in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            where = "/".join(str(p) for p in err.absolute_path)
            problems.append(f"{_name(doc)}: {where}: {err.message}")
    return problems


# -- invariants ---------------------------------------------------------------------------------


_MEBI = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}


def _mib(quantity: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", str(quantity))
    if not m:
        raise CheckError(f"cannot read memory quantity {quantity!r}")
    number, unit = m.groups()
    return float(number) * (_MEBI[unit] if unit else 1 / 2**20)


def invariant_problems(docs: Sequence[Doc]) -> list[str]:
    """What hunt itself needs of a rendered overlay."""
    by_kind: dict[str, list[Doc]] = {}
    for d in docs:
        by_kind.setdefault(d.get("kind", ""), []).append(d)
    problems: list[str] = []
    config: dict[str, str] = {}
    for cm in by_kind.get("ConfigMap", []):
        if cm["metadata"]["name"].startswith("hunt-config"):
            config = cm.get("data") or {}
    if not config:
        problems.append("no hunt-config ConfigMap")
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    sets = by_kind.get("StatefulSet", [])
    if len(sets) != 1:
        return [*problems, f"expected one StatefulSet, found {len(sets)}"]
    sts = sets[0]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    name = _name(sts)
    if spec.get("podManagementPolicy") != "Parallel":
        problems.append(f"{name}: podManagementPolicy must be Parallel")
    headless = services.get(spec.get("serviceName", ""))
    if headless is None:
        problems.append(f"{name}: serviceName {spec.get('serviceName')!r} is not a Service here")
    elif headless["spec"].get("clusterIP") != "None" or not headless["spec"].get(
        "publishNotReadyAddresses"
    ):
        problems.append(
            f"Service/{spec['serviceName']}: must be headless with publishNotReadyAddresses"
        )
    if not any(s["spec"].get("clusterIP") != "None" for s in services.values()):
        problems.append("no ClusterIP Service for the views")
    claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
    workers = [c for c in pod["containers"] if c.get("command", [])[-1:] == ["worker"]]
    if not workers:
        return [*problems, f"{name}: no container runs `hunt worker`"]
    c = workers[0]
    env = {e["name"]: e for e in c.get("env", [])}
    url = env.get("HUNT_CANONICAL_URL", {}).get("value", "")
    want = f"http://$(POD_NAME).{spec.get('serviceName')}.$(POD_NAMESPACE).svc:6066"
    if url != want:
        problems.append(f"{name}: HUNT_CANONICAL_URL is {url!r}, expected {want!r}")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    data_dir = config.get("HUNT_DATA_DIR", "")
    if mounts.get(data_dir) not in claims:
        problems.append(f"{name}: HUNT_DATA_DIR {data_dir!r} is not on a volumeClaimTemplate")
    if "/tmp" not in mounts:
        problems.append(f"{name}: no volume at /tmp (the root filesystem is read-only)")
    sc = c.get("securityContext", {})
    if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: needs readOnlyRootFilesystem and no privilege escalation")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append(f"{name}: must drop ALL capabilities")
    pod_sc = pod.get("securityContext", {})
    if (
        not pod_sc.get("runAsNonRoot")
        or pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault"
    ):
        problems.append(f"{name}: pod must runAsNonRoot with the RuntimeDefault seccomp profile")
    for probe, path in (
        ("startupProbe", None),
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
    ):
        got = c.get(probe, {}).get("httpGet", {}).get("path")
        if got is None or (path and got != path):
            problems.append(f"{name}: {probe} must GET {path or '/healthz or /readyz'}")
    limits = c.get("resources", {}).get("limits", {})
    budget = int(config.get("HUNT_MEMORY_BUDGET_MIB", "512"))
    if "memory" not in limits:
        problems.append(f"{name}: no memory limit")
    elif _mib(limits["memory"]) < budget + MEMORY_HEADROOM_MIB:
        problems.append(
            f"{name}: memory limit {limits['memory']} leaves less than {MEMORY_HEADROOM_MIB} MiB "
            f"above HUNT_MEMORY_BUDGET_MIB={budget}"
        )
    if pod.get("terminationGracePeriodSeconds", 30) < 60:
        problems.append(f"{name}: terminationGracePeriodSeconds below 60 cuts a graceful stop")
    labels = spec["template"]["metadata"].get("labels", {})
    pdbs = [
        p
        for p in by_kind.get("PodDisruptionBudget", [])
        if all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
    ]
    if not pdbs or pdbs[0]["spec"].get("maxUnavailable") != 1:
        problems.append(f"{name}: needs a PodDisruptionBudget with maxUnavailable 1")
    partitions = int(config.get("HUNT_PARTITIONS", "8"))
    for so in by_kind.get("ScaledObject", []):
        top = so["spec"].get("maxReplicaCount", 100)
        if top > partitions:
            problems.append(
                f"{_name(so)}: maxReplicaCount {top} exceeds HUNT_PARTITIONS={partitions}"
            )
    return problems


# -- policy -------------------------------------------------------------------------------------


def policy_problems(checkov: Path, files: Sequence[Path], config: Path) -> list[str]:
    """checkov on rendered manifests and Dockerfiles; its report when it fails."""
    cmd: list[str | Path] = [checkov, "--config-file", config]
    for f in files:
        cmd += ["-f", f]
    proc = _run(cmd)
    if proc.returncode == 0:
        return []
    failed = [
        line.strip()
        for line in proc.stdout.splitlines()
        if line.strip().startswith(("Check:", "FAILED"))
    ]
    return failed or [f"checkov exited {proc.returncode}: {(proc.stdout + proc.stderr)[-2000:]}"]


# -- dockerfile ---------------------------------------------------------------------------------


def dockerfile_problems(path: Path, hadolint: Path | None) -> list[str]:
    """hadolint (when given) plus hunt's own rules for its image."""
    text = path.read_text()
    problems: list[str] = []
    if hadolint is not None:
        proc = _run([hadolint, "--no-color", path])
        if proc.returncode != 0:
            problems += [f"hadolint: {line}" for line in proc.stdout.splitlines() if line.strip()]
    lines = [ln.strip() for ln in re.sub(r"\\\n", " ", text).splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    froms = [ln.split()[1] for ln in lines if ln.upper().startswith("FROM ")]
    if len(froms) < 2:
        problems.append("Dockerfile: not multi-stage (build and runtime stages)")
    for image in froms:
        if image.startswith("python:") and not re.fullmatch(
            r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image
        ):
            problems.append(f"Dockerfile: base {image!r} is not a pinned python:3.11.N-slim")
    users = [ln.split()[1] for ln in lines if ln.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("Dockerfile: the final stage must switch to a non-root USER")
    entry = _exec_command(lines)
    if entry not in ("hunt worker", "tini -- hunt worker", "/usr/bin/tini -- hunt worker"):
        problems.append(f"Dockerfile: the image runs {entry!r}, not `hunt worker` (exec form)")
    last = max((i for i, ln in enumerate(lines) if ln.upper().startswith("FROM ")), default=0)
    runtime = "\n".join(lines[last:])
    if re.search(r"kafka|hunt broker|openjdk|-jre\b|\bjava\b", runtime, re.I):
        problems.append("Dockerfile: the runtime image must not embed a Kafka broker or a JVM")
    return problems


def _exec_command(lines: Sequence[str]) -> str:
    """The command the image runs: ENTRYPOINT + CMD in exec (JSON) form, else ''."""
    parts: dict[str, list[str]] = {}
    for ln in lines:
        word, _, rest = ln.partition(" ")
        if word.upper() in ("ENTRYPOINT", "CMD"):
            rest = rest.strip()
            parts[word.upper()] = json.loads(rest) if rest.startswith("[") else ["<shell form>"]
            if word.upper() == "ENTRYPOINT":
                parts.pop("CMD", None)
        elif word.upper() == "FROM":
            parts = {}
    return " ".join(parts.get("ENTRYPOINT", []) + parts.get("CMD", []))


# -- dashboard ----------------------------------------------------------------------------------

# PromQL words that look like metric names but are not.
_PROMQL_WORDS = set(
    "and or unless by without on ignoring group_left group_right bool offset inf nan "
    "atan2 start end".split()
)


def _exprs(dashboard: Doc) -> list[str]:
    out: list[str] = []

    def walk(panels: Iterable[Doc]) -> None:
        for p in panels:
            out.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))

    walk(dashboard.get("panels", []))
    return out


def _metric_names(expr: str) -> set[str]:
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # string literals
    e = re.sub(r"\$\{?\w+\}?", " ", e)  # Grafana variables
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # range selectors
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names


def dashboard_metric_names(path: Path | str) -> set[str]:
    """Every metric name the dashboard's PromQL queries select."""
    dashboard = json.loads(Path(path).read_text())
    return set().union(*(_metric_names(e) for e in _exprs(dashboard)))


def missing_metrics(dashboard_names: Iterable[str], metrics_text: str) -> set[str]:
    """Names not exported by a Prometheus text page (samples, or families still empty)."""
    exported: set[str] = set()
    suffixes = {
        "counter": ("_total",),  # a counter's samples always end in _total
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
        "gauge": ("",),
        "untyped": ("",),
    }
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = [*line.split(), "untyped"][:4]
            base = family.removesuffix("_total") if kind == "counter" else family
            exported.update(base + s for s in suffixes.get(kind, ("",)))
            if kind != "counter":
                exported.add(family)
        elif line and not line.startswith("#"):
            exported.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return set(dashboard_names) - exported


def dashboard_problems(path: Path, docs: Sequence[Doc] = ()) -> list[str]:
    """The dashboard parses, every panel queries something, the ConfigMap is labelled."""
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        return [f"{path}: not JSON: {e}"]
    problems: list[str] = []
    for p in dashboard.get("panels", []):
        if p.get("type") != "row" and not any(t.get("expr") for t in p.get("targets", [])):
            problems.append(f"{path}: panel {p.get('title')!r} has no query")
    names = dashboard_metric_names(path)
    foreign = sorted(n for n in names if not n.startswith(("hunt_", "faust_")))
    if foreign:
        problems.append(f"{path}: queries metrics hunt does not export: {', '.join(foreign)}")
    for doc in docs:
        if doc.get("kind") == "ConfigMap" and path.name in (doc.get("data") or {}):
            if (doc["metadata"].get("labels") or {}).get("grafana_dashboard") != "1":
                problems.append(f'{_name(doc)}: missing label grafana_dashboard: "1"')
            if json.loads(doc["data"][path.name]) != dashboard:
                problems.append(f"{_name(doc)}: differs from {path}")
    return problems


# -- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m hunt.ops.k8s_check", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root")
    ap.add_argument("--metrics-url", help="also check the dashboard against this live /metrics")
    args = ap.parse_args(argv)
    import yaml

    root: Path = args.root
    k8s = root / "k8s"
    tools = find_tools(ROOT)
    missing = [n for n, p in vars(tools).items() if p is None]
    if missing:
        print(
            f"k8s-check: missing {', '.join(missing)}; run `python -m hunt.ops.tools` first",
            file=sys.stderr,
        )
        return 2
    assert tools.kustomize and tools.checkov
    dashboard = k8s / "components" / "grafana-dashboard" / "hunt-dashboard.json"
    report: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="hunt-k8s-") as tmp:
        rendered: list[Path] = []
        for overlay in sorted(p for p in (k8s / "overlays").iterdir() if p.is_dir()):
            tag = f"overlay {overlay.name}"
            try:
                docs = render(tools.kustomize, overlay)
            except CheckError as e:
                report[f"{tag}: render"] = [str(e)]
                continue
            out = Path(tmp) / f"{overlay.name}.yaml"
            out.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            rendered.append(out)
            report[f"{tag}: schemas"] = kubernetes_schema_problems(docs, k8s / "schemas")
            report[f"{tag}: invariants"] = invariant_problems(docs)
            report[f"{tag}: dashboard"] = dashboard_problems(dashboard, docs)
        dockerfile = root / "Dockerfile"
        report["policy (checkov)"] = policy_problems(
            tools.checkov, [*rendered, dockerfile], k8s / "checkov.yaml"
        )
        report["dockerfile"] = dockerfile_problems(dockerfile, tools.hadolint)
    if args.metrics_url:
        with urllib.request.urlopen(args.metrics_url, timeout=10) as resp:
            text = resp.read().decode()
        gone = missing_metrics(dashboard_metric_names(dashboard), text)
        report["dashboard vs /metrics"] = [f"not exported: {n}" for n in sorted(gone)]
    failed = 0
    for check, problems in report.items():
        print(f"{'FAIL' if problems else 'ok  '} {check}")
        for p in problems:
            print(f"     {p}")
        failed += bool(problems)
    verdict = f"{failed} of {len(report)} checks failed" if failed else f"all {len(report)} ok"
    print(f"k8s-check: {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
