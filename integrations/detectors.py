"""Detectors: small pure functions that find MLOps practices in a repository's files.

Each detector takes the file list (paths relative to the repository root, "/"-separated) and a reader
(`read(path) -> text | None`; None for binary, missing or oversized files) and returns Signals. No
Django, no git: the scan (integrations/git_sync.py) hands them a tree; tests can hand them a dict.
Adding a detector is one entry in `DETECTORS`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

Reader = Callable[[str], "str | None"]

# Signal kinds
TRAINING_CODE = "training_code"
SCORING_CODE = "scoring_code"
TEST_FILE = "test_file"
SCORING_TEST = "scoring_test"
CI_CONFIG = "ci_config"
DATA_VERSIONING = "data_versioning"
FEATURE_STORE = "feature_store"
FEATURE_VIEW = "feature_view"
DATA_VALIDATION = "data_validation"
MONITORING = "monitoring"
DOCKERFILE = "dockerfile"
INFRASTRUCTURE = "infrastructure"
DEPENDENCY_LOCK = "dependency_lock"


@dataclass(frozen=True)
class Signal:
    kind: str
    path: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Detector:
    kind: str
    description: str
    fn: Callable[[Sequence[str], Reader], list[Signal]]


# --- path helpers ---


# The path helpers are pure and called for every file by several detectors: they are memoised.
_MEMOISED: list[Any] = []


def _memo(fn: Callable[[str], Any]) -> Any:
    cached = lru_cache(maxsize=1 << 16)(fn)
    _MEMOISED.append(cached)
    return cached


def clear_caches() -> None:
    """Forget the memoised path facts (benchmarks use this to time cold scans)."""
    for fn in _MEMOISED:
        fn.cache_clear()


@_memo
def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


@_memo
def _dirs(path: str) -> frozenset[str]:
    return frozenset(d.lower() for d in path.split("/")[:-1])


def _stem(path: str) -> str:
    return _name(path).rsplit(".", 1)[0]


@_memo
def _ext(path: str) -> str:
    name = _name(path)
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


_VENDORED = frozenset(
    {"node_modules", "site-packages", "vendor", "third_party", ".venv", "venv", ".tox", "__pycache__"}
)


@_memo
def _vendored(path: str) -> bool:
    return not _VENDORED.isdisjoint(_dirs(path))


def _python(files: Sequence[str]) -> list[str]:
    return [p for p in files if p.endswith(".py") and not _vendored(p)]


def _yaml_files(files: Sequence[str]) -> list[str]:
    return [p for p in files if _ext(p) in ("yml", "yaml") and not _vendored(p)]


def _has(text: str | None, *needles: str) -> bool:
    return text is not None and all(n in text for n in needles)


def read_hint(path: str) -> bool:
    """Files the detectors may read (the scan prefetches them in one batch): Python, YAML, text,
    and extensionless files such as Dockerfile, Jenkinsfile and MLproject."""
    return not _vendored(path) and (_ext(path) in ("py", "yml", "yaml", "txt") or "." not in _name(path))


# --- tests ---

_TEST_NAME = re.compile(
    r"^(test_.+\.py|.+_test\.py|tests?\.py|test[-_].+\.r|.+_test\.go|.+\.(test|spec)\.(js|jsx|ts|tsx))$", re.I
)
_TEST_DIRS = frozenset({"test", "tests", "testing", "testthat"})


@_memo
def is_test_file(path: str) -> bool:
    if _vendored(path):
        return False
    name = _name(path)
    if name in ("conftest.py", "__init__.py"):
        return False
    return bool(_TEST_NAME.match(name)) or (
        name.endswith(".py") and not _TEST_DIRS.isdisjoint(_dirs(path)) and not name.startswith("_")
    )


def detect_test_files(files: Sequence[str], read: Reader) -> list[Signal]:
    return [Signal(TEST_FILE, p, {"language": _language(p)}) for p in files if is_test_file(p)]


def _language(path: str) -> str:
    return {"py": "python", "r": "r", "go": "go", "js": "javascript", "jsx": "javascript"}.get(
        _ext(path), "typescript" if _ext(path) in ("ts", "tsx") else _ext(path)
    )


# --- training and scoring code ---

_TRAIN_NAME = re.compile(
    r"^(train|training|fit|retrain|train[-_]\w+|\w+[-_]train(ing)?|fit[-_]model)\.(py|ipynb|r)$", re.I
)
_TRAIN_DIRS = {"train", "training", "trainer"}
_SCORE_NAME = re.compile(
    r"^(score|scoring|predict|prediction|predictor|inference|infer|serve|serving|server|"
    r"(batch|online|model)[-_](score|scoring|predict|inference|serving|server)|"
    r"(score|predict|inference|serve)[-_]\w+|\w+[-_](score|scorer|predict|predictor|inference|serving))\.(py|r)$",
    re.I,
)
_SCORE_DIRS = {"serving", "inference", "scoring", "predict", "prediction", "serve"}


@_memo
def _code(path: str) -> bool:
    return _ext(path) in ("py", "ipynb", "r") and not _vendored(path) and not is_test_file(path)


def detect_training_code(files: Sequence[str], read: Reader) -> list[Signal]:
    out = []
    for p in files:
        if _name(p) == "MLproject" and not _vendored(p):
            out.append(Signal(TRAINING_CODE, p, {"via": "mlproject"}))
        elif _code(p) and _TRAIN_NAME.match(_name(p)):
            out.append(Signal(TRAINING_CODE, p, {"via": "name"}))
        elif _code(p) and _name(p) != "__init__.py" and _TRAIN_DIRS & _dirs(p):
            out.append(Signal(TRAINING_CODE, p, {"via": "directory"}))
    return out


def scoring_paths(files: Sequence[str]) -> list[str]:
    return [
        p for p in files if _code(p) and _ext(p) != "ipynb" and (_SCORE_NAME.match(_name(p)) or _SCORE_DIRS & _dirs(p))
    ]


def detect_scoring_code(files: Sequence[str], read: Reader) -> list[Signal]:
    return [
        Signal(SCORING_CODE, p, {"via": "name" if _SCORE_NAME.match(_name(p)) else "directory"})
        for p in scoring_paths(files)
        if _name(p) != "__init__.py" or _SCORE_NAME.match(_name(p))
    ]


def module_names(path: str) -> list[str]:
    """Every dotted name a Python file can be imported as: `src/serving/predict.py` gives
    `predict`, `serving.predict` and `src.serving.predict` (src layouts, monorepo subdirectories)."""
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts[-1:]):
        return []
    names = []
    for i in range(len(parts) - 1, -1, -1):
        if not parts[i].isidentifier():
            break
        names.append(".".join(parts[i:]))
    return names


def imported_names(text: str) -> set[str]:
    """The dotted names a Python file imports: `from a.b import c` gives `a.b` and `a.b.c`."""
    names: set[str] = set()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        for m in re.finditer(r"^\s*from\s+([\w.]+)\s+import\s+\(?([\w ,]+)", text, re.M):
            names.add(m.group(1).lstrip("."))
            names.update(f"{m.group(1).lstrip('.')}.{n.strip()}" for n in m.group(2).split(",") if n.strip())
        for m in re.finditer(r"^\s*import\s+([\w., ]+)", text, re.M):
            names.update(n.split(" as ")[0].strip() for n in m.group(1).split(",") if n.strip())
        return {n for n in names if n}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if base:
                names.add(base)
            names.update(f"{base}.{a.name}" if base else a.name for a in node.names if a.name != "*")
    return names


_ENDPOINT = re.compile(r"""["'](/v\d+)?/(predict|score|scoring|invocations|inference)\b""")


def detect_scoring_tests(files: Sequence[str], read: Reader) -> list[Signal]:
    """Tests that touch the scoring code: they import it, are named after it, or call its endpoint."""
    scoring = [p for p in scoring_paths(files) if p.endswith(".py")]
    if not scoring:
        return []
    modules: dict[str, str] = {}
    for p in scoring:
        for name in module_names(p):
            modules.setdefault(name, p)
    stems = {_stem(p): p for p in scoring if _name(p) != "__init__.py"}
    # A file that imports a scoring module names its last part: a cheap test before parsing it.
    needles = {name.rsplit(".", 1)[-1] for name in modules}
    out = []
    for p in files:
        if not (is_test_file(p) and p.endswith(".py")):
            continue
        text = read(p)
        maybe = text is not None and any(n in text for n in needles)
        hit = sorted(n for n in imported_names(text) if n in modules) if maybe else []
        if hit:
            # The longest match names the scoring module most precisely.
            best = max(hit, key=len)
            out.append(Signal(SCORING_TEST, p, {"via": "import", "module": best, "scoring_path": modules[best]}))
            continue
        stem = _stem(p).removeprefix("test_").removesuffix("_test")
        if stem in stems:
            out.append(Signal(SCORING_TEST, p, {"via": "name", "scoring_path": stems[stem]}))
        elif text and _ENDPOINT.search(text):
            out.append(Signal(SCORING_TEST, p, {"via": "endpoint", "endpoint": _ENDPOINT.search(text).group(0)[1:]}))
    return out


# --- CI ---


@_memo
def is_ci_config(path: str) -> bool:
    """The CI parsers' rule for what is a CI configuration file (one definition, in integrations/ci/parsers.py)."""
    from integrations.ci.parsers import is_ci_config as rule

    return rule(path)


def ci_provider(path: str) -> str:
    if path.startswith(".github/"):
        return "github"
    if "gitlab-ci" in _name(path) or path.startswith(".gitlab/"):
        return "gitlab"
    if _name(path).startswith("Jenkinsfile") or _ext(path) == "groovy":
        return "jenkins"
    return "other"


def detect_ci_config(files: Sequence[str], read: Reader) -> list[Signal]:
    return [Signal(CI_CONFIG, p, {"provider": ci_provider(p)}) for p in files if is_ci_config(p)]


# --- data versioning ---


def _yaml(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def detect_data_versioning(files: Sequence[str], read: Reader) -> list[Signal]:
    out = []
    for p in files:
        name = _name(p)
        if _vendored(p):
            continue
        if name == "dvc.yaml":
            data = _yaml(read(p))
            stages = (
                sorted(data.get("stages", {}))[:50]
                if isinstance(data, dict) and isinstance(data.get("stages"), dict)
                else []
            )
            out.append(Signal(DATA_VERSIONING, p, {"tool": "dvc", "file": "pipeline", "stages": stages}))
        elif name == "dvc.lock":
            out.append(Signal(DATA_VERSIONING, p, {"tool": "dvc", "file": "lock"}))
        elif name.endswith(".dvc") and name != ".dvc" and "/.dvc/" not in f"/{p}":
            out.append(Signal(DATA_VERSIONING, p, {"tool": "dvc", "file": "tracked", "target": name[:-4]}))
        elif p == ".dvc/config" or p.endswith("/.dvc/config"):
            out.append(Signal(DATA_VERSIONING, p, {"tool": "dvc", "file": "config"}))
    return out


# --- feature store ---

_FEATURE_VIEW_CALLS = ("FeatureView", "BatchFeatureView", "StreamFeatureView", "OnDemandFeatureView")


def feature_view_names(text: str) -> list[str]:
    """Names of Feast feature views defined in a Python file: `FeatureView(name="...")` calls and
    `@on_demand_feature_view` functions."""
    if "FeatureView" not in text and "feature_view" not in text:
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return sorted(set(re.findall(r"FeatureView\(\s*name\s*=\s*[\"']([^\"']+)", text)))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in _FEATURE_VIEW_CALLS:
                for kw in node.keywords:
                    if kw.arg == "name" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        names.append(kw.value.value)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                label = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if label in ("on_demand_feature_view", "stream_feature_view", "batch_feature_view"):
                    names.append(node.name)
    return sorted(set(names))


def _feature_views(files: Sequence[str], read: Reader) -> dict[str, list[str]]:
    out = {}
    for p in _python(files):
        text = read(p)
        if text and ("feast" in text or "FeatureView" in text):
            names = feature_view_names(text)
            if names:
                out[p] = names
    return out


def detect_feature_store(files: Sequence[str], read: Reader) -> list[Signal]:
    stores = [p for p in files if _name(p) in ("feature_store.yaml", "feature_store.yml") and not _vendored(p)]
    if not stores:
        return []
    views = _feature_views(files, read)
    out = []
    for p in stores:
        base = p.rsplit("/", 1)[0] + "/" if "/" in p else ""
        data = _yaml(read(p))
        config = data if isinstance(data, dict) else {}
        names = sorted({n for path, ns in views.items() if path.startswith(base) for n in ns})
        detail = {"tool": "feast", "feature_views": names[:200]}
        for key in ("project", "provider"):
            if isinstance(config.get(key), str):
                detail[key] = config[key]
        out.append(Signal(FEATURE_STORE, p, detail))
    return out


def detect_feature_views(files: Sequence[str], read: Reader) -> list[Signal]:
    return [
        Signal(FEATURE_VIEW, p, {"tool": "feast", "names": names[:200]})
        for p, names in _feature_views(files, read).items()
    ]


# --- data validation and monitoring ---


@lru_cache(maxsize=8)
def _import_pattern(modules: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(m) for m in modules)
    return re.compile(rf"^[ \t]*(?:from|import)[ \t]+({alternatives})\b", re.M)


def _imports(files: Iterable[str], read: Reader, modules: Mapping[str, str], kind: str) -> list[Signal]:
    pattern = _import_pattern(tuple(modules))
    out = []
    for p in files:
        text = read(p)
        if not text:
            continue
        tools = sorted({modules[m.group(1)] for m in pattern.finditer(text)})
        if tools:
            out.append(Signal(kind, p, {"tools": tools, "via": "import"}))
    return out


_VALIDATION_MODULES = {
    "great_expectations": "great_expectations",
    "pandera": "pandera",
    "tensorflow_data_validation": "tfdv",
    "deepchecks": "deepchecks",
    "soda": "soda",
    "pointblank": "pointblank",
    "pydantic": "pydantic",
}
_SCHEMA_PATH = re.compile(r"(schema|validat|contract|expectation|checks?)", re.I)


def detect_data_validation(files: Sequence[str], read: Reader) -> list[Signal]:
    out: dict[str, Signal] = {}
    for p in files:
        if _vendored(p):
            continue
        dirs, name = _dirs(p), _name(p)
        if name in ("great_expectations.yml", "great_expectations.yaml"):
            out[p] = Signal(DATA_VALIDATION, p, {"tools": ["great_expectations"], "via": "config"})
        elif _ext(p) == "json" and (
            "expectations" in dirs or name.endswith((".expectations.json", "_expectations.json"))
        ):
            out[p] = Signal(DATA_VALIDATION, p, {"tools": ["great_expectations"], "via": "suite", "suite": _stem(p)})
        elif (
            _ext(p) in ("yml", "yaml") and ("soda" in dirs or name.startswith("checks")) and _has(read(p), "checks for")
        ):
            out[p] = Signal(DATA_VALIDATION, p, {"tools": ["soda"], "via": "config"})
    for signal in _imports(_python(files), read, _VALIDATION_MODULES, DATA_VALIDATION):
        tools = list(signal.detail["tools"])
        # pydantic models are everywhere (API payloads, settings): only schema-like files count.
        if tools == ["pydantic"] and not _SCHEMA_PATH.search(signal.path):
            continue
        out.setdefault(signal.path, signal)
    return sorted(out.values(), key=lambda s: s.path)


_MONITORING_MODULES = {
    "evidently": "evidently",
    "whylogs": "whylogs",
    "nannyml": "nannyml",
    "alibi_detect": "alibi_detect",
    "prometheus_client": "prometheus",
    "arize": "arize",
    "frouros": "frouros",
    "deepchecks.tabular.checks.model_evaluation": "deepchecks",
}
_PROM_RULE = re.compile(r"^\s*-?\s*(alert|record)\s*:", re.M)


def detect_monitoring(files: Sequence[str], read: Reader) -> list[Signal]:
    out: dict[str, Signal] = {}
    for p in _yaml_files(files):
        if is_ci_config(p):
            continue
        text = read(p)
        if not text:
            continue
        if "PrometheusRule" in text or ("groups:" in text and "expr:" in text and _PROM_RULE.search(text)):
            out[p] = Signal(MONITORING, p, {"tools": ["prometheus"], "via": "rules"})
        elif "scrape_configs:" in text:
            out[p] = Signal(MONITORING, p, {"tools": ["prometheus"], "via": "scrape_config"})
        elif "ServiceMonitor" in text and "kind:" in text:
            out[p] = Signal(MONITORING, p, {"tools": ["prometheus"], "via": "service_monitor"})
    for p in files:
        if _ext(p) == "json" and {"grafana", "dashboards"} & _dirs(p) and _has(read(p), '"panels"'):
            out[p] = Signal(MONITORING, p, {"tools": ["grafana"], "via": "dashboard"})
    for signal in _imports(_python(files), read, _MONITORING_MODULES, MONITORING):
        out.setdefault(signal.path, signal)
    return sorted(out.values(), key=lambda s: s.path)


# --- packaging and infrastructure ---

_DOCKERFILE = re.compile(r"^(Dockerfile(\..+)?|.+\.[Dd]ockerfile|Containerfile(\..+)?)$")
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", re.M | re.I)


def detect_dockerfiles(files: Sequence[str], read: Reader) -> list[Signal]:
    out = []
    for p in files:
        if _DOCKERFILE.match(_name(p)) and not _vendored(p):
            images = _FROM.findall(read(p) or "")
            out.append(Signal(DOCKERFILE, p, {"base_images": images[:10]}))
    return out


_K8S_API = re.compile(r"^apiVersion:\s*\S+", re.M)
_K8S_KIND = re.compile(r"^kind:\s*([A-Za-z]+)", re.M)


def detect_infrastructure(files: Sequence[str], read: Reader) -> list[Signal]:
    out = []
    charts = {p.rsplit("/", 1)[0] + "/" if "/" in p else "" for p in files if _name(p) == "Chart.yaml"}
    for p in files:
        if _vendored(p) or "/.terraform/" in f"/{p}":
            continue
        name = _name(p)
        if name.endswith((".tf", ".tf.json")):
            out.append(Signal(INFRASTRUCTURE, p, {"tool": "terraform"}))
        elif name == "Chart.yaml":
            out.append(Signal(INFRASTRUCTURE, p, {"tool": "helm"}))
        elif name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
            out.append(Signal(INFRASTRUCTURE, p, {"tool": "kustomize"}))
        elif name in ("Pulumi.yaml", "Pulumi.yml"):
            out.append(Signal(INFRASTRUCTURE, p, {"tool": "pulumi"}))
        elif name in ("cdk.json",):
            out.append(Signal(INFRASTRUCTURE, p, {"tool": "aws-cdk"}))
        elif _ext(p) in ("yml", "yaml", "json") and not is_ci_config(p):
            if any(p.startswith(c) for c in charts):
                continue  # a chart's templates are covered by its Chart.yaml
            text = read(p)
            if not text:
                continue
            if "AWSTemplateFormatVersion" in text:
                out.append(Signal(INFRASTRUCTURE, p, {"tool": "cloudformation"}))
            elif _ext(p) != "json" and _K8S_API.search(text) and _K8S_KIND.search(text):
                kinds = sorted(set(_K8S_KIND.findall(text)))[:10]
                out.append(Signal(INFRASTRUCTURE, p, {"tool": "kubernetes", "kinds": kinds}))
    return out


_LOCK_FILES = {
    "poetry.lock": "poetry",
    "uv.lock": "uv",
    "Pipfile.lock": "pipenv",
    "pdm.lock": "pdm",
    "conda-lock.yml": "conda-lock",
    "conda-lock.yaml": "conda-lock",
    "renv.lock": "renv",
    "pixi.lock": "pixi",
    "requirements.lock": "rye",
    "requirements-dev.lock": "rye",
}
_REQUIREMENTS = re.compile(r"^requirements([-_.\w]*)\.txt$", re.I)
_CONDA_LOCK = re.compile(r"^(.+\.conda-lock\.ya?ml|conda-.+\.lock)$")
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-\[\], ]*===?\s*[^\s;,*]+(\s*;.*)?(\s+--hash=\S+)*\s*(\\)?$")


def requirements_pins(text: str) -> tuple[int, int]:
    """(pinned, total) requirement lines: `pkg==1.2.3` (or `===`, with hashes or markers) is pinned;
    options (`-r`, `-c`, `--index-url`), comments and continuation hash lines are not counted."""
    pinned = total = 0
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", "--")):
            continue
        total += 1
        if _PINNED.match(line) or (" @ " in line and "--hash" in line):
            pinned += 1
    return pinned, total


def detect_dependency_locks(files: Sequence[str], read: Reader) -> list[Signal]:
    out = []
    for p in files:
        if _vendored(p):
            continue
        name = _name(p)
        if name in _LOCK_FILES:
            out.append(Signal(DEPENDENCY_LOCK, p, {"tool": _LOCK_FILES[name]}))
        elif _CONDA_LOCK.match(name):
            out.append(Signal(DEPENDENCY_LOCK, p, {"tool": "conda-lock"}))
        elif _REQUIREMENTS.match(name):
            pinned, total = requirements_pins(read(p) or "")
            # A requirements file counts as a lock when every requirement in it is pinned.
            if total and pinned == total:
                out.append(Signal(DEPENDENCY_LOCK, p, {"tool": "pip", "pinned": pinned}))
    return out


DETECTORS: tuple[Detector, ...] = (
    Detector(
        TRAINING_CODE,
        "Training code: train*.py, *_train.py, files under train/ or training/, MLproject",
        detect_training_code,
    ),
    Detector(
        SCORING_CODE,
        "A scoring or inference entry point: score.py, predict.py, inference.py, serve.py, files under "
        "serving/ or inference/",
        detect_scoring_code,
    ),
    Detector(
        TEST_FILE,
        "Test files: test_*.py, *_test.py, Python files under tests/, R testthat, *_test.go, *.test.ts",
        detect_test_files,
    ),
    Detector(
        SCORING_TEST,
        "Tests that touch the scoring code: they import the scoring module, are named after it "
        "(test_predict.py), or call /predict, /score or /invocations",
        detect_scoring_tests,
    ),
    Detector(
        CI_CONFIG,
        "CI configuration: .github/workflows/*.yml, .gitlab-ci.yml, Jenkinsfile",
        detect_ci_config,
    ),
    Detector(
        DATA_VERSIONING,
        "Data versioning with DVC: dvc.yaml (with its stages), dvc.lock, *.dvc, .dvc/config",
        detect_data_versioning,
    ),
    Detector(
        FEATURE_STORE,
        "A feature store definition: Feast feature_store.yaml, with the feature views defined beside it",
        detect_feature_store,
    ),
    Detector(
        FEATURE_VIEW,
        "Feast feature views: FeatureView(name=...) calls and @on_demand_feature_view functions in .py files",
        detect_feature_views,
    ),
    Detector(
        DATA_VALIDATION,
        "Data validation: Great Expectations config and expectation suites (JSON), Soda checks, Python files "
        "importing pandera, great_expectations, TFDV, deepchecks, or pydantic (schema files only)",
        detect_data_validation,
    ),
    Detector(
        MONITORING,
        "Monitoring: Prometheus rules, scrape configs and ServiceMonitors, Grafana dashboards, Python files "
        "importing evidently, whylogs, nannyml, alibi_detect, prometheus_client, arize",
        detect_monitoring,
    ),
    Detector(
        DOCKERFILE,
        "A Dockerfile or Containerfile, with its base images",
        detect_dockerfiles,
    ),
    Detector(
        INFRASTRUCTURE,
        "Infrastructure as code: Terraform (*.tf), Helm (Chart.yaml), Kustomize, Kubernetes manifests "
        "(apiVersion + kind), Pulumi, CloudFormation, AWS CDK",
        detect_infrastructure,
    ),
    Detector(
        DEPENDENCY_LOCK,
        "Dependency lock files: poetry.lock, uv.lock, Pipfile.lock, pdm.lock, conda-lock, renv.lock, "
        "pixi.lock, and requirements*.txt with every requirement pinned",
        detect_dependency_locks,
    ),
)


def run_detectors(files: Sequence[str], read: Reader, detectors: Sequence[Detector] = DETECTORS) -> list[Signal]:
    """Every detector over the same files; one signal per (kind, path), sorted."""
    found: dict[tuple[str, str], Signal] = {}
    for detector in detectors:
        for signal in detector.fn(files, read):
            found.setdefault((signal.kind, signal.path), signal)
    return [found[key] for key in sorted(found)]
