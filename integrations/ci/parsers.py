"""Parse CI configuration files into ParsedPipelines: GitHub Actions workflows, GitLab CI, Jenkinsfiles.

A pure core: no Django, no network, nothing is fetched (a GitLab `include:` is recorded, not followed).
Broken input is a CiFinding, never an exception. YAML is read with PyYAML's safe loader (GitLab adds one
tag, `!reference`, to a SafeLoader subclass); Jenkinsfiles are read with regular expressions over the
text with comments and string literals masked out, not with a Groovy interpreter.

    is_ci_config(path) -> bool
    parse_ci_file(path, text) -> (pipelines, findings)

Job kinds come from `classify_job` (names first, then the GitLab stage or the Jenkins parent stage, then
step names, commands, actions and environments), the pipeline kind from its jobs (`pipeline_kind`).
docs/integrations.md ("CI configuration parsing") lists the rules.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from integrations.ci.contracts import (
    JOB_DATA,
    JOB_DEPLOY,
    JOB_EVALUATE,
    JOB_OTHER,
    JOB_TEST,
    JOB_TRAIN,
    MANUAL,
    OTHER,
    PULL_REQUEST,
    PUSH,
    SCHEDULE,
    TAG,
    CiFinding,
    CiJob,
    CiTrigger,
    ParsedPipeline,
)

GITHUB, GITLAB, JENKINS = "github", "gitlab", "jenkins"

# Finding kinds
BROKEN_YAML = "broken_yaml"  # the YAML does not parse (the message names the line)
INCLUDE_NOT_FETCHED = "include_not_fetched"  # a GitLab include, recorded in ParsedPipeline.includes
UNSUPPORTED = "unsupported"  # recognised, not followed: downstream pipelines, shared libraries, `load`...
NOT_A_MAPPING = "not_a_mapping"  # the YAML document is a list or a scalar
NO_JOBS = "no_jobs"  # a configuration that defines no job (no stage for a Jenkinsfile)
UNPARSEABLE = "unparseable"  # a Jenkinsfile whose braces or strings do not close, or that is not a pipeline
INVALID_CONFIG = "invalid_config"  # parses, but the provider would refuse it (no `on:`, a cycle in extends...)
TOO_LARGE = "too_large"  # over MAX_CONFIG_BYTES: not parsed
TRUNCATED = "truncated"  # more jobs or triggers than kept

MAX_CONFIG_BYTES = 1024 * 1024
MAX_JOBS = 500
MAX_TRIGGERS = 100
MAX_INCLUDES = 100
MAX_FINDINGS = 100
MAX_NAME = 255  # a job or pipeline name (the inventory's column)
MAX_VALUE = 500  # a string in a trigger's detail
MAX_LIST = 50  # items in a list in a trigger's detail
MAX_MESSAGE = 2000
_WALK_BUDGET = 20_000  # nodes visited when collecting a job's commands (recursive YAML stays bounded)

_KIND_ORDER = (JOB_DEPLOY, JOB_TRAIN, JOB_EVALUATE, JOB_DATA, JOB_TEST)
_PIPELINE_KIND = {JOB_DEPLOY: "deployment", JOB_TRAIN: "training", JOB_EVALUATE: "evaluation", JOB_DATA: "data"}


# --- which files -------------------------------------------------------------------------------------


def _provider(path: str) -> str | None:
    rel = path[2:] if path.startswith("./") else path
    parts = rel.split("/")
    name = parts[-1]
    if len(parts) == 3 and parts[0] == ".github" and parts[1] == "workflows":
        # GitHub reads workflows from the repository root's .github/workflows/ only, without subfolders.
        stem, dot, ext = name.rpartition(".")
        return GITHUB if dot and stem and ext in ("yml", "yaml") else None
    if name == ".gitlab-ci.yml":
        return GITLAB
    if name == "Jenkinsfile" or (name.startswith("Jenkinsfile.") and len(name) > len("Jenkinsfile.")):
        return JENKINS
    return None


def is_ci_config(path: str) -> bool:
    """`.github/workflows/*.yml|yaml` (root only), `.gitlab-ci.yml` and `Jenkinsfile`/`Jenkinsfile.*` anywhere.

    >>> is_ci_config(".github/workflows/train.yml"), is_ci_config("services/scorer/.gitlab-ci.yml")
    (True, True)
    >>> is_ci_config("services/scorer/.github/workflows/ci.yml")
    False
    """
    return _provider(path) is not None


def parse_ci_file(path: str, text: str) -> tuple[list[ParsedPipeline], list[CiFinding]]:
    """The pipelines one CI file defines (one per file), and what was wrong or left out while reading it.

    A file that cannot be read at all (broken YAML, too large, not a mapping, an unparseable Jenkinsfile)
    gives no pipeline and a finding, so the caller keeps the last good pipeline.
    """
    provider = _provider(path)
    if provider is None:
        return [], [CiFinding(path, UNSUPPORTED, "not a CI configuration file this parser reads")]
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    size = len(text) if len(text) * 4 <= MAX_CONFIG_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        return [], [CiFinding(path, TOO_LARGE, f"{size} bytes: files over {MAX_CONFIG_BYTES} bytes are not parsed")]
    text = text.removeprefix("\ufeff")
    findings = _Findings(path)
    parse = {GITHUB: _parse_github, GITLAB: _parse_gitlab, JENKINS: _parse_jenkins}[provider]
    pipeline = parse(path, text, findings)
    return ([pipeline] if pipeline else []), findings.items


def pipeline_kind(job_kinds: Iterable[str]) -> str:
    """deployment if any deploy job, else training, else evaluation, else data, else ci."""
    kinds = set(job_kinds)
    return next((_PIPELINE_KIND[k] for k in _KIND_ORDER[:4] if k in kinds), "ci")


# --- small helpers -----------------------------------------------------------------------------------


class _Findings:
    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[CiFinding] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, kind: str, message: str) -> None:
        message = _clean(message, MAX_MESSAGE)
        if (kind, message) in self._seen or len(self.items) >= MAX_FINDINGS:
            return
        self._seen.add((kind, message))
        self.items.append(CiFinding(self.path, kind, message))


def _clean(value: Any, limit: int = MAX_NAME) -> str:
    """A bounded, storable string from a scalar (no NUL, no lone surrogates); '' for anything else."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif not isinstance(value, str | int | float | dt.date):
        return ""
    try:
        text = str(value)
    except ValueError:  # an integer too long to print (YAML's base-60 ints can be)
        return ""
    text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text.strip()[:limit]


def _str_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = [_clean(v, MAX_VALUE) for v in items[:MAX_LIST]]
    return [v for v in out if v]


def _detail(config: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        if key in config:
            values = _str_list(config[key])
            if values:
                out[key] = values
    return out


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name


def _type_name(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "empty"}.get(type(value), type(value).__name__)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


class _Triggers:
    """Triggers in order of first appearance, without duplicates, at most MAX_TRIGGERS."""

    def __init__(self, findings: _Findings) -> None:
        self.items: list[CiTrigger] = []
        self._keys: set[str] = set()
        self._findings = findings

    def add(self, type_: str, detail: Mapping[str, Any] | None = None) -> None:
        detail = dict(detail or {})
        key = type_ + json.dumps(detail, sort_keys=True)
        if key in self._keys:
            return
        if len(self.items) >= MAX_TRIGGERS:
            self._findings.add(TRUNCATED, f"more than {MAX_TRIGGERS} triggers; the first {MAX_TRIGGERS} are kept")
            return
        self._keys.add(key)
        self.items.append(CiTrigger(type_, detail))

    def extend(self, triggers: Iterable[CiTrigger]) -> None:
        for t in triggers:
            self.add(t.type, t.detail)

    def has(self, *types: str) -> bool:
        return any(t.type in types for t in self.items)


def _pipeline(
    provider: str,
    name: str,
    path: str,
    triggers: _Triggers,
    jobs: list[CiJob],
    findings: _Findings,
    includes: tuple[str, ...] = (),
) -> ParsedPipeline:
    if len(jobs) > MAX_JOBS:
        findings.add(TRUNCATED, f"{len(jobs)} jobs; the first {MAX_JOBS} are kept")
        jobs = jobs[:MAX_JOBS]
    return ParsedPipeline(
        provider=provider,
        name=name,
        config_path=path,
        triggers=tuple(triggers.items),
        jobs=tuple(jobs),
        kind=pipeline_kind(j.kind for j in jobs),
        includes=includes,
    )


# --- job classification ------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WORDS: dict[str, str] = {  # a word in a job, stage or step name -> the kind it points to
    word: kind
    for kind, words in (
        (
            JOB_DEPLOY,
            "deploy deploys deployed deploying deployment deployments redeploy rollout rollback promote promotion "
            "serve serving canary production prod staging",
        ),
        (
            JOB_TRAIN,
            "train trains training trainer retrain retraining finetune finetuning fit tune tuning hpo sweep "
            "hyperparameter hyperparameters",
        ),
        (JOB_EVALUATE, "evaluate evaluation evaluating eval evals benchmark benchmarks metrics metric"),
        (
            JOB_DATA,
            "data dataset datasets etl elt ingest ingestion preprocess preprocessing featurize featurization "
            "features dvc expectations gx soda feast materialize",
        ),
        (
            JOB_TEST,
            "test tests testing unittest unittests unit pytest tox nox e2e integration smoke coverage junit xunit "
            "codecov coveralls",
        ),
    )
    for word in words.split()
}
_VALIDATE = _words("validate validates validation validating verify check checks")
_MODEL_WORDS = _words("model models metrics performance accuracy")
_DOCS = _words("docs doc documentation mkdocs sphinx pages site")
_LINT = _words("lint linter linting flake8 ruff pylint mypy black isort format formatting typecheck precommit")


def _tokens(texts: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for text in texts:
        text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text[:MAX_VALUE])
        words = [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]
        out.update(words)
        out.update(a + b for a, b in itertools.pairwise(words))  # fine-tune, pre-commit, type-check
    return out


def _word_kinds(texts: Iterable[str]) -> tuple[set[str], bool]:
    """The kinds that words in names point to, and whether a lint or docs word marks the job as neither."""
    words = _tokens(texts)
    kinds = {_WORDS[w] for w in words if w in _WORDS}
    if words & _VALIDATE and words & _MODEL_WORDS:
        kinds.add(JOB_EVALUATE)
    docs = bool(words & _DOCS)
    if docs:
        kinds.discard(JOB_DEPLOY)  # publishing documentation is not a model deployment
    return kinds, docs or bool(words & _LINT)


def _top(kinds: set[str]) -> str:
    return next((k for k in _KIND_ORDER if k in kinds), JOB_OTHER)


_SKIP_LINE = re.compile(
    r"^(sudo\s+)?(pip3?|python3?(\.\d+)?\s+-m\s+pip|uv\s+(pip|add|sync|venv)|poetry\s+(install|add|lock)|"
    r"pipenv\s+install|conda\s+(install|create|env|activate)|mamba|micromamba|apt(-get)?|apk|yum|dnf|brew|"
    r"npm\s+(install|ci)|yarn\s+install|echo|printf|cd|export|set|mkdir|cp|mv|rm|cat|ls|chmod|source|"
    r"git\s+(clone|fetch|checkout|config))\b"
)
_TEST_LINE = re.compile(
    r"(?<![\w./-])(pytest|py\.test|tox|nox|nosetests|behave|rspec|unittest)(?![\w.-])"
    r"|(?<![\w-])(make|just|task|npm(\s+run)?|yarn|pnpm|go|cargo|mvn|\./mvnw|gradle|\./gradlew|dotnet|mix|rake|"
    r"ctest|hatch(\s+run)?|pdm\s+run|uv\s+run|poe|invoke|inv)\s+(test|tests|unit-tests?|test-[\w:-]+|check)(?![\w-])"
    r"|testthat|devtools::test|R\s+CMD\s+check|\bcoverage\s+run\b"
)
_TOOLS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        JOB_DEPLOY,
        re.compile(
            r"\bkubectl\s+(apply|create|replace|patch|rollout|set\s+image|scale)\b"
            r"|\bhelm(file)?\s+(upgrade|install|apply|sync|rollback)\b|\bargocd\s+app\s+(sync|set|create)\b"
            r"|\bflux\s+reconcile\b|\bskaffold\s+(run|deploy)\b|\b(terraform|tofu|terragrunt)\s+(run-all\s+)?apply\b"
            r"|\bpulumi\s+up\b|\b(cdk|sam|serverless|sls|fly|flyctl|netlify|firebase|eb)\s+deploy\b"
            r"|\bgcloud\s+(run\s+deploy|app\s+deploy|functions\s+deploy|ai\s+endpoints\s+(deploy-model|create)"
            r"|ai-platform\s+(versions|models)\s+create)\b"
            r"|\baz\s+(ml\s+(online-deployment|online-endpoint|batch-deployment|batch-endpoint)|webapp\s+(deploy|up)"
            r"|containerapp\s+(up|update|create)|functionapp\s+deployment)\b"
            r"|\baws\s+(sagemaker\s+(create-endpoint|update-endpoint)|ecs\s+update-service"
            r"|lambda\s+update-function-code|elasticbeanstalk\s+update-environment|deploy\s+create-deployment)\b"
            r"|\bmlflow\s+(models\s+(serve|build-docker)|deployments\s+(create|update)|sagemaker\s+deploy)\b"
            r"|\b(transition_model_version_stage|transition-model-version-stage|set_registered_model_alias"
            r"|set-registered-model-alias)\b|\bbentoml\s+(serve|deploy|deployment)\b|\bkn\s+service\s+(create|update)\b"
            r"|\bdocker\s+stack\s+deploy\b|\bheroku\s+(container:release|releases:promote)\b|\bcf\s+push\b"
            r"|\bansible-playbook\b"
        ),
    ),
    (
        JOB_TRAIN,
        re.compile(
            r"\bmlflow\s+run\b|\b(accelerate\s+launch|torchrun|deepspeed|horovodrun|fairseq-train|autotrain)\b"
            r"|\bdvc\s+exp\s+run\b|\baz\s+ml\s+job\s+create\b|\bgcloud\s+ai\s+(custom-jobs|hp-tuning-jobs)\s+create\b"
            r"|\bgcloud\s+ai-platform\s+jobs\s+submit\s+training\b"
            r"|\baws\s+sagemaker\s+create-(training|hyper-parameter-tuning)-job\b|\b(ludwig|spacy|yolo)\s+(\w+\s+)?train\b"
        ),
    ),
    (
        JOB_EVALUATE,
        re.compile(
            r"\bdvc\s+(metrics|plots)\s+(show|diff)\b|\bmlflow\.evaluate\b|\bcml\s+(comment|send-comment|publish)\b"
            r"|\blm[_-]eval\b|\bpromptfoo\s+eval\b|\bgiskard\b"
        ),
    ),
    (
        JOB_DATA,
        re.compile(
            r"\bdvc\s+(repro|import|import-url|update)\b|\bgreat_expectations\b|\bgx\s+checkpoint\b|\bsoda\s+scan\b"
            r"|\bdbt\s+(run|build|seed|snapshot|test)\b|\bfeast\s+(apply|materialize)|\bsqlmesh\s+(run|plan)\b"
            r"|\bairflow\s+dags\s+trigger\b|\bspark-submit\b"
        ),
    ),
)
_SCRIPT = re.compile(r"(?:^|(?<=[\s/'\"=:]))([\w-]+)\.(?:py|ipynb|R|r|sh|bash|ps1|jl)(?![\w.])")
_MODULE = re.compile(r"(?<![\w.-])-m\s+([\w.]+)")
_TARGET = re.compile(
    r"(?<![\w-])(?:make|just|task|invoke|inv|npm\s+run|yarn|pnpm|poe|poetry\s+run|uv\s+run|pdm\s+run|hatch\s+run"
    r"|rye\s+run|pixi\s+run|nox\s+-s|tox\s+-e|dvc\s+repro|kedro\s+run\s+--pipeline)(?:=|(?=\s))((?:\s*[\w:.=/-]+){1,3})"
)


def _command_kinds(commands: Iterable[str]) -> set[str]:
    kinds: set[str] = set()
    budget = 2000
    for command in commands:
        for line in re.split(r"\n|&&|\|\||;", command[:100_000]):
            budget -= 1
            if budget < 0:
                return kinds
            line = line.strip()
            if not line or line.startswith("#") or _SKIP_LINE.match(line):
                continue
            if _TEST_LINE.search(line):
                kinds.add(JOB_TEST)  # a test command names test files (test_train.py): nothing else on the line
                continue
            kinds.update(kind for kind, rx in _TOOLS if rx.search(line))
            names = [m.group(1) for m in _SCRIPT.finditer(line)]
            names += [m.group(1).rsplit(".", 1)[-1] for m in _MODULE.finditer(line)]
            names += [w for m in _TARGET.finditer(line) for w in m.group(1).split() if not w.startswith("-")]
            for name in names:
                if re.match(r"(?i)test_|.*_test$", name):
                    kinds.add(JOB_TEST)
                else:
                    kinds |= _word_kinds([name])[0]
    return kinds


def _action_kinds(uses: str) -> set[str]:
    ref = uses.split("@", 1)[0].lower()
    if ref.startswith("docker://"):
        return _word_kinds([ref.removeprefix("docker://").split(":")[0]])[0]
    parts = [p for p in ref.split("/") if p not in ("", ".")]
    name = parts[-1] if ref.startswith("./") else "/".join(parts[1:])  # the owner says nothing
    if any(p.startswith("setup-") or p.endswith("-setup") for p in parts):
        return set()  # installing helm or dvc says nothing about what the job does with it
    return _word_kinds([name])[0]


def classify_job(
    *,
    names: Iterable[str],
    stages: Iterable[str] = (),
    steps: Iterable[str] = (),
    commands: Iterable[str] = (),
    actions: Iterable[str] = (),
    hints: Iterable[str] = (),
) -> str:
    """A job's kind: test | train | evaluate | deploy | data | other.

    Tiers, the first that decides wins: the job's names (id, display name, called workflow); its stage (GitLab
    stage, Jenkins parent stage); then step names, commands, actions and hints (a deployment environment)
    together. Within a tier the order is deploy > train > evaluate > data > test. A lint or docs word in a
    name tier with no other kind word makes the job `other`.
    """
    for tier in (names, stages):
        kinds, marker = _word_kinds(tier)
        if kinds:
            return _top(kinds)
        if marker:
            return JOB_OTHER
    kinds = set(hints) | _word_kinds(steps)[0] | _command_kinds(commands)
    for uses in actions:
        kinds |= _action_kinds(uses)
    return _top(kinds)


def _strings(value: Any, resolve: Any = None) -> Iterator[str]:
    """The strings in a (possibly nested, possibly recursive) YAML list, depth first, with a node budget."""
    stack, seen, budget = [value], set(), _WALK_BUDGET
    while stack and budget > 0:
        item = stack.pop()
        budget -= 1
        if resolve is not None and isinstance(item, _Reference):
            item = resolve(item)
        if isinstance(item, str):
            yield item
        elif isinstance(item, list) and id(item) not in seen:
            seen.add(id(item))
            stack.extend(reversed(item))


# --- YAML --------------------------------------------------------------------------------------------


class _Reference(tuple):
    """GitLab's `!reference [job, key, ...]`."""


class _GitLabLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader plus GitLab's `!reference` tag: still no arbitrary Python objects."""


def _construct_reference(loader: yaml.SafeLoader, node: yaml.Node) -> _Reference:
    if isinstance(node, yaml.SequenceNode):
        return _Reference(loader.construct_sequence(node, deep=True))
    return _Reference()


_GitLabLoader.add_constructor("!reference", _construct_reference)


def _load_yaml(text: str, findings: _Findings, *, gitlab: bool = False) -> tuple[bool, Any]:
    try:
        if not gitlab:
            return True, yaml.safe_load(text)
        docs = list(yaml.load_all(text, Loader=_GitLabLoader))  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}" if mark else ""
        findings.add(BROKEN_YAML, f"invalid YAML{where}: {exc.problem or exc.context or exc}")
        return False, None
    except yaml.reader.ReaderError as exc:
        findings.add(BROKEN_YAML, f"invalid YAML at line {_line_of(text, exc.position)}: {exc.reason}")
        return False, None
    except RecursionError:
        findings.add(UNSUPPORTED, "the YAML is nested too deeply to read")
        return False, None
    except Exception as exc:  # the loader on arbitrary text: a date like 2024-13-45, a huge number...
        findings.add(BROKEN_YAML, f"invalid YAML: {type(exc).__name__}: {exc}")
        return False, None
    if len(docs) <= 1:
        return True, docs[0] if docs else None
    if isinstance(docs[0], dict) and "spec" in docs[0] and len(docs) == 2:
        return True, docs[1]  # a CI/CD component: a `spec:` header, then the configuration
    findings.add(BROKEN_YAML, f"{len(docs)} YAML documents: only a `spec:` header may precede the configuration")
    return False, None


# --- GitHub Actions ----------------------------------------------------------------------------------

_GITHUB_PATH_FILTERS = ("paths", "paths-ignore")
_DEPLOY_ENVIRONMENTS = _words(
    "production prod prd staging stage stg live canary preprod uat qa dev development sandbox preview review"
)


def _parse_github(path: str, text: str, findings: _Findings) -> ParsedPipeline | None:
    ok, doc = _load_yaml(text, findings)
    if not ok:
        return None
    if not isinstance(doc, dict):
        findings.add(NOT_A_MAPPING, f"a workflow is a mapping (name, on, jobs); this file is {_type_name(doc)}")
        return None
    triggers = _Triggers(findings)
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1); a quoted "on" stays a string.
    on = doc["on"] if "on" in doc else doc.get(True)
    if on is None:
        findings.add(INVALID_CONFIG, "the workflow has no `on:` (nothing triggers it)")
    else:
        _github_triggers(on, triggers, findings)
    jobs: list[CiJob] = []
    spec = doc.get("jobs")
    if isinstance(spec, dict):
        jobs = [_github_job(key, job, findings) for key, job in spec.items()]
    elif spec is not None:
        findings.add(INVALID_CONFIG, f"`jobs` is {_type_name(spec)}, not a mapping of job ids to jobs")
    if not jobs:
        findings.add(NO_JOBS, "the workflow defines no jobs")
    return _pipeline(GITHUB, _clean(doc.get("name")) or _stem(path), path, triggers, jobs, findings)


def _github_triggers(on: Any, triggers: _Triggers, findings: _Findings) -> None:
    if isinstance(on, str):
        events: dict[str, Any] = {on: None}
    elif isinstance(on, list):
        events = {}
        for item in on:
            if isinstance(item, str):
                events[item] = None
            else:
                findings.add(UNSUPPORTED, f"`on:` lists {_type_name(item)}, not an event name")
    elif isinstance(on, dict):
        events = {_clean(k): v for k, v in on.items() if _clean(k)}
    else:
        findings.add(UNSUPPORTED, f"`on:` is {_type_name(on)}; expected an event, a list or a mapping")
        return
    for event, config in events.items():
        _github_event(_clean(event, MAX_VALUE), config, triggers, findings)


def _github_event(event: str, config: Any, triggers: _Triggers, findings: _Findings) -> None:
    cfg = config if isinstance(config, dict) else {}
    if event == "push":
        branch_filter = "branches" in cfg or "branches-ignore" in cfg
        tag_filter = "tags" in cfg or "tags-ignore" in cfg
        if branch_filter or not tag_filter:  # only tag filters: the workflow does not run for branch pushes
            triggers.add(PUSH, _detail(cfg, ("branches", "branches-ignore", *_GITHUB_PATH_FILTERS)))
        if tag_filter:
            triggers.add(TAG, _detail(cfg, ("tags", "tags-ignore")))  # path filters do not apply to tags
    elif event in ("pull_request", "pull_request_target"):
        detail = _detail(cfg, ("branches", "branches-ignore", *_GITHUB_PATH_FILTERS, "types"))
        triggers.add(PULL_REQUEST, {"event": event, **detail} if event != "pull_request" else detail)
    elif event == "schedule":
        entries = config if isinstance(config, list) else [config]
        crons = [e for e in entries if isinstance(e, dict) and _clean(e.get("cron"), MAX_VALUE)]
        for entry in crons[:MAX_TRIGGERS]:
            detail = {"cron": _clean(entry["cron"], MAX_VALUE)}
            if _clean(entry.get("timezone"), MAX_VALUE):
                detail["timezone"] = _clean(entry["timezone"], MAX_VALUE)
            triggers.add(SCHEDULE, detail)
        if not crons:
            findings.add(INVALID_CONFIG, "`schedule:` has no `cron:` entry")
    elif event == "workflow_dispatch":
        inputs = cfg.get("inputs")
        names = _str_list(list(inputs)) if isinstance(inputs, dict) else []
        triggers.add(MANUAL, {"event": event, **({"inputs": names} if names else {})})
    elif event == "repository_dispatch":
        triggers.add(MANUAL, {"event": event, **_detail(cfg, ("types",))})
    else:  # workflow_run, workflow_call, release, merge_group, issue_comment...
        triggers.add(OTHER, {"event": event, **_detail(cfg, ("workflows", "types", "branches"))})


def _github_job(key: Any, job: Any, findings: _Findings) -> CiJob:
    job_id = _clean(key) or "(unnamed)"
    if not isinstance(job, dict):
        findings.add(INVALID_CONFIG, f"job `{job_id}` is {_type_name(job)}, not a mapping")
        return CiJob(job_id, JOB_OTHER)
    name = _clean(job.get("name")) or job_id
    names = [job_id, name]
    called = _clean(job.get("uses"), MAX_VALUE)
    if called:  # a reusable workflow: ./.github/workflows/deploy.yml or owner/repo/.github/workflows/x.yml@ref
        names.append(_stem(called.split("@", 1)[0]))
    hints = []
    env = job.get("environment")
    env_name = env.get("name") if isinstance(env, dict) else env
    env_words = _tokens([_clean(env_name)])
    if env_words & _DEPLOY_ENVIRONMENTS or ("${{" in _clean(env_name) and env_words & {"environment", "env"}):
        hints.append(JOB_DEPLOY)
    steps, commands, actions = [], [], []
    for step in job.get("steps") if isinstance(job.get("steps"), list) else []:
        if not isinstance(step, dict):
            continue
        steps.append(_clean(step.get("name"), MAX_VALUE))
        commands.extend(_strings(step.get("run")))
        with_ = step.get("with")
        if isinstance(with_, dict):
            for k in ("run", "script", "command", "commands"):
                commands.extend(_strings(with_.get(k)))
        if _clean(step.get("uses"), MAX_VALUE):
            actions.append(_clean(step.get("uses"), MAX_VALUE))
    kind = classify_job(names=names, steps=steps, commands=commands, actions=actions, hints=hints)
    return CiJob(name, kind)


# --- GitLab CI ---------------------------------------------------------------------------------------

_GITLAB_KEYWORDS = _words(
    "stages variables default include workflow image services before_script after_script cache types spec"
)
_GITLAB_SOURCES = {
    "push": PUSH,
    "merge_request_event": PULL_REQUEST,
    "external_pull_request_event": PULL_REQUEST,
    "schedule": SCHEDULE,
    "web": MANUAL,
}
_GITLAB_OTHER_SOURCES = _words(
    "api trigger pipeline parent_pipeline chat webide security_orchestration_policy ondemand_dast_scan "
    "ondemand_dast_validation"
)
_ONLY_KEYWORDS = {
    "branches": PUSH,
    "pushes": PUSH,
    "tags": TAG,
    "merge_requests": PULL_REQUEST,
    "external_pull_requests": PULL_REQUEST,
    "schedules": SCHEDULE,
    "web": MANUAL,
}
_ONLY_OTHER = _words("api triggers pipelines external chat")
_MAX_EXTENDS_DEPTH = 11  # GitLab's own limit


def _parse_gitlab(path: str, text: str, findings: _Findings) -> ParsedPipeline | None:
    ok, doc = _load_yaml(text, findings, gitlab=True)
    if not ok:
        return None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        findings.add(NOT_A_MAPPING, f"a GitLab CI file maps keywords and jobs; this file is {_type_name(doc)}")
        return None
    includes = _gitlab_includes(doc.get("include"), findings)
    definitions: dict[str, dict[str, Any]] = {}
    visible: list[str] = []
    for key, value in doc.items():
        name = _clean(key)
        if not name or name in _GITLAB_KEYWORDS:
            continue
        if not isinstance(value, dict):
            if not name.startswith("."):  # hidden keys often hold anchored lists or strings
                findings.add(INVALID_CONFIG, f"`{name}` is not a job: its value is {_type_name(value)}")
            continue
        definitions.setdefault(name, value)
        if not name.startswith(".") and name not in visible:
            visible.append(name)
    resolver = _Extends(definitions, findings, bool(includes))
    triggers = _Triggers(findings)
    workflow = doc.get("workflow") if isinstance(doc.get("workflow"), dict) else {}
    workflow_rules = workflow.get("rules") if isinstance(workflow.get("rules"), list) else None
    if workflow_rules is not None:
        triggers.extend(_rules_triggers(workflow_rules, ""))
    jobs: list[CiJob] = []
    for name in visible[: MAX_JOBS + 1]:
        job = resolver.resolve(name)
        jobs.append(_gitlab_job(name, job, doc, findings))
        own = _gitlab_job_triggers(name, job)
        if own is None:
            if workflow_rules is None:
                triggers.add(PUSH)  # no rules, only or except: branch and tag pushes
        else:
            triggers.extend(own)
        if job.get("when") == "manual":
            triggers.add(MANUAL, {"job": name})
    if not triggers.items:
        triggers.add(PUSH)
    if not jobs and not includes:
        findings.add(NO_JOBS, "the file defines no jobs (only keywords or hidden `.templates`)")
    name = _clean(workflow.get("name")) or path
    return _pipeline(GITLAB, name, path, triggers, jobs, findings, includes)


def _gitlab_includes(value: Any, findings: _Findings) -> tuple[str, ...]:
    if value is None:
        return ()
    entries = value if isinstance(value, list) else [value]
    out: list[str] = []
    for entry in entries[:MAX_INCLUDES]:
        rendered = _include_entry(entry)
        if rendered is None:
            findings.add(UNSUPPORTED, f"an `include:` entry of an unknown form ({_type_name(entry)}) was skipped")
            continue
        for item in rendered:
            if item not in out:
                out.append(item)
                findings.add(INCLUDE_NOT_FETCHED, f"include {item} is recorded, not fetched: its jobs are not listed")
    if len(entries) > MAX_INCLUDES:
        findings.add(TRUNCATED, f"{len(entries)} includes; the first {MAX_INCLUDES} are kept")
    return tuple(out)


def _include_entry(entry: Any) -> list[str] | None:
    if isinstance(entry, str):
        text = _clean(entry, MAX_VALUE)
        if not text:
            return None
        return [f"remote:{text}" if re.match(r"(?i)https?://", text) else f"local:{text}"]
    if not isinstance(entry, dict):
        return None
    for key in ("local", "remote", "template", "component"):
        if _clean(entry.get(key), MAX_VALUE):
            return [f"{key}:{_clean(entry[key], MAX_VALUE)}"]
    project = _clean(entry.get("project"), MAX_VALUE)
    if project:
        ref = _clean(entry.get("ref"), MAX_VALUE)
        files = _str_list(entry.get("file")) or ["(default)"]
        return [f"project:{project}:{f}" + (f"@{ref}" if ref else "") for f in files]
    return None


class _Extends:
    """Resolves `extends:` (deep merge of mappings; lists and scalars are replaced), as GitLab does."""

    def __init__(self, definitions: dict[str, dict[str, Any]], findings: _Findings, has_includes: bool) -> None:
        self.definitions = definitions
        self.findings = findings
        self.has_includes = has_includes
        self.cache: dict[str, dict[str, Any]] = {}

    def resolve(self, name: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        if name in self.cache:
            return self.cache[name]
        job = self.definitions[name]
        parents = job.get("extends")
        parents = [parents] if isinstance(parents, str) else parents if isinstance(parents, list) else []
        merged: dict[str, Any] = {}
        for parent in parents:
            if not isinstance(parent, str):
                continue
            if parent == name or parent in stack:
                self.findings.add(INVALID_CONFIG, f"`{name}` extends `{parent}` in a cycle")
                continue
            if len(stack) >= _MAX_EXTENDS_DEPTH:
                self.findings.add(INVALID_CONFIG, f"`{name}`: extends nested more than {_MAX_EXTENDS_DEPTH} levels")
                continue
            if parent not in self.definitions:
                if not self.has_includes:  # with includes it most likely comes from one (that finding says so)
                    self.findings.add(INVALID_CONFIG, f"`{name}` extends `{_clean(parent)}`, which is not defined")
                continue
            merged = _deep_merge(merged, self.resolve(parent, (*stack, name)))
        resolved = _deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})
        self.cache[name] = resolved
        return resolved


def _deep_merge(base: Any, override: Any, depth: int = 0) -> Any:
    if not (isinstance(base, dict) and isinstance(override, dict)) or depth > 20:
        return override
    out = dict(base)
    for key, value in override.items():
        out[key] = _deep_merge(base[key], value, depth + 1) if key in base else value
    return out


def _gitlab_job(name: str, job: dict[str, Any], doc: dict[str, Any], findings: _Findings) -> CiJob:
    def resolve(ref: _Reference) -> Any:
        node: Any = doc
        for key in ref[:10]:
            if not isinstance(node, dict) or not isinstance(key, str | int) or key not in node:
                findings.add(INVALID_CONFIG, f"`{name}`: !reference {list(map(_clean, ref))} names nothing here")
                return None
            node = node[key]
        return node

    stage = _clean(job.get("stage"))
    commands = [c for key in ("before_script", "script") for c in _strings(job.get(key), resolve)]
    steps = []
    for step in job.get("run") if isinstance(job.get("run"), list) else []:  # GitLab CI steps
        if isinstance(step, dict):
            steps.append(_clean(step.get("name"), MAX_VALUE))
            commands.extend(_strings(step.get("script"), resolve))
    hints = []
    env = job.get("environment")
    action = env.get("action") if isinstance(env, dict) else None
    if _clean(env.get("name") if isinstance(env, dict) else env) and action not in ("prepare", "verify", "access"):
        hints.append(JOB_DEPLOY)  # a GitLab environment is a deployment
    if "trigger" in job:
        target = job["trigger"]
        what = _clean(target.get("project") if isinstance(target, dict) else target, MAX_VALUE) or "a child pipeline"
        findings.add(UNSUPPORTED, f"`{name}` triggers a downstream pipeline ({what}); it is not followed")
    kind = classify_job(names=[name], stages=[stage] if stage else [], steps=steps, commands=commands, hints=hints)
    return CiJob(name, kind, stage or "test")


def _gitlab_job_triggers(name: str, job: dict[str, Any]) -> list[CiTrigger] | None:
    """The triggers a job's rules, only and except allow; None when it has none of them (the default)."""
    if isinstance(job.get("rules"), list):
        return _rules_triggers(job["rules"], name)
    only, except_ = job.get("only"), job.get("except")
    if only is None and except_ is None:
        return None
    triggers = _only_triggers(only)
    if except_ is not None:
        refs = except_.get("refs") if isinstance(except_, dict) else except_
        excluded = {_ONLY_KEYWORDS.get(r) for r in _str_list(refs)} - {None}
        triggers = [t for t in triggers if not (t.type in excluded and not t.detail)]
    return triggers


def _only_triggers(only: Any) -> list[CiTrigger]:
    if isinstance(only, dict):
        only = only.get("refs")  # only: {variables: ..., changes: ...} keeps the default refs
    # GitLab's default is branches and tags; a tag trigger is kept for jobs that name tags.
    refs = _str_list(only) if only is not None else ["branches"]
    out: list[CiTrigger] = []
    branches: list[str] = []
    for ref in refs:
        if ref in _ONLY_KEYWORDS:
            out.append(CiTrigger(_ONLY_KEYWORDS[ref], {"source": "web"} if ref == "web" else {}))
        elif ref in _ONLY_OTHER:
            out.append(CiTrigger(OTHER, {"source": ref}))
        else:
            branches.append(ref)  # a branch name or a /regex/
    if branches:
        out.insert(0, CiTrigger(PUSH, {"branches": branches}))
    return out


def _rules_triggers(rules: list[Any], job: str) -> list[CiTrigger]:
    """Best effort over GitLab's first-match rules: what each rule that runs allows, minus the sources an
    earlier `when: never` rule on a plain condition excludes."""
    out: list[CiTrigger] = []
    excluded: set[str] = set()
    for rule in rules[:200]:
        if not isinstance(rule, dict):
            continue
        when = rule.get("when")
        condition = _clean(rule.get("if"), 1000)
        catch_all = not condition and "changes" not in rule and "exists" not in rule
        found = _condition_triggers(condition) if condition else []
        if when == "never":
            if catch_all:
                break  # nothing after it can match
            excluded |= {t.type for t, plain in found if plain}
            continue
        if not condition:
            found = [(CiTrigger(PUSH), False)]  # no `if`: every remaining pipeline (changes/exists: pushes)
        out.extend(t for t, _ in found if t.type not in excluded)
        if when == "manual" and job:
            out.append(CiTrigger(MANUAL, {"job": job}))
        if catch_all:
            break
    return out


_ATOM = re.compile(r"^\$\{?(\w+)\}?\s*(?:(==|!=|=~|!~)\s*(.*))?$", re.S)


def _condition_triggers(expression: str) -> list[tuple[CiTrigger, bool]]:
    """Triggers of a rule's `if:`, each with whether the alternative was only conditions understood here."""
    out: list[tuple[CiTrigger, bool]] = []
    for alternative in expression.split("||")[:20]:
        types: dict[str, dict[str, Any]] = {}
        branches: list[str] = []
        negative = unknown = False
        for atom in alternative.split("&&")[:20]:
            atom = atom.strip().strip("()").strip()
            m = _ATOM.match(atom)
            if not m:
                unknown = True
                continue
            var, op, raw = m.group(1), m.group(2), (m.group(3) or "").strip()
            value = raw.strip("'\"")
            is_null = value in ("null", "")
            positive = op in (None, "==", "=~") and not (op == "==" and is_null)
            positive = positive or (op == "!=" and is_null)
            if var == "CI_PIPELINE_SOURCE":
                if not positive or op is None:
                    negative = True
                    continue
                names = re.findall(r"\w+", value) if op == "=~" else [value]
                for source in names:
                    if source in _GITLAB_SOURCES:
                        t = _GITLAB_SOURCES[source]
                        types.setdefault(t, {"source": source} if t == MANUAL else {})
                    elif source in _GITLAB_OTHER_SOURCES:
                        types.setdefault(OTHER, {"source": source})
            elif var == "CI_COMMIT_TAG":
                if not positive:
                    negative = True
                    continue
                detail = types.setdefault(TAG, {})
                if op in ("==", "=~") and not is_null:
                    detail.setdefault("tags", []).append(_clean(value, MAX_VALUE))
            elif var in ("CI_COMMIT_BRANCH", "CI_COMMIT_REF_NAME"):
                if not positive:
                    negative = True
                elif op in ("==", "=~") and not is_null:
                    branches.append(_clean(value, MAX_VALUE))
                else:
                    branches.append("")
            elif var.startswith("CI_MERGE_REQUEST_") or var == "CI_EXTERNAL_PULL_REQUEST_IID":
                if not positive:
                    negative = True
                    continue
                detail = types.setdefault(PULL_REQUEST, {})
                if var == "CI_MERGE_REQUEST_TARGET_BRANCH_NAME" and op in ("==", "=~") and not is_null:
                    detail.setdefault("branches", []).append(_clean(value, MAX_VALUE))
            else:
                unknown = True
        if TAG in types:
            types.pop(PUSH, None)  # a tag pipeline's source is "push"
        if PUSH in types or not types:
            named = [b for b in branches if b]
            if types or branches or (negative and not unknown):
                types[PUSH] = {"branches": named} if named else {}
        if not types and unknown:
            types[OTHER] = {"if": _clean(alternative, MAX_VALUE)}
        plain = not unknown and not negative
        out.extend((CiTrigger(t, d), plain) for t, d in types.items())
    return out


# --- Jenkinsfile -------------------------------------------------------------------------------------

_GROOVY_TOKEN = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?\*/)
      | (?P<string>'''.*?'''|\"\"\".*?\"\"\"|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
      | (?P<open>/\*|'''|\"\"\"|'|")""",
    re.S | re.X,
)
_NOT_LINE = re.compile(r"[^\n]")
_CALL = r"(?<![\w.$])"
_STAGE_CALL = re.compile(_CALL + r"stage(?![\w$])\s*(\()?\s*(?:name\s*:\s*)?")
_STEP = re.compile(_CALL + r"(sh|bat|powershell|pwsh)(?![\w$])\s*")
_IDENTIFIER = re.compile(r"(?m)^[ \t]*([A-Za-z_]\w*)(?![\w$])(?!\s*[=.:])")
_WHEN = re.compile(_CALL + r"when\s*\{")
_NOT = re.compile(_CALL + r"not\s*\{")
_INPUT = re.compile(_CALL + r"input\s*(?=[({'\"]|message\s*:|id\s*:)")
_WHEN_CONDITION = re.compile(
    _CALL + r"(tag|branch|buildingTag|changeRequest|triggeredBy)(?![\w$])\s*\(?\s*(?:(?:pattern|target|cause)\s*:\s*)?"
)
_CRON_CALL = re.compile(_CALL + r"(cron|pollSCM|parameterizedCron)\s*(?:\(\s*(?:spec\s*:\s*)?|(?=['\"]))")
_OTHER_TRIGGER = re.compile(
    _CALL + r"(upstream|githubPush|bitbucketPush|gitlab|GenericTrigger|issueCommentTrigger|ghprbTrigger"
    r"|githubPullRequests)\s*\("
)
_BUILD_JOB = re.compile(_CALL + r"build\s*\(?\s*job\s*:\s*")
_INPUT_MESSAGE = re.compile(r"\s*\{?\s*message\s*:?\s*")
_CRON_SPEC = re.compile(r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$")


@dataclass
class _Groovy:
    text: str
    masked: str  # comments blanked, string literals' insides blanked (quotes kept), same length as text
    literals: dict[int, tuple[int, str]]  # opening quote position -> (end, value)
    starts: list[int]
    braces: dict[int, int]  # `{` position -> matching `}` position

    def literal_at(self, pos: int) -> tuple[int, str] | None:
        return self.literals.get(pos)

    def literals_in(self, start: int, end: int) -> list[tuple[int, int, str]]:
        i = bisect.bisect_left(self.starts, start)
        out = []
        while i < len(self.starts) and self.starts[i] < end:
            s = self.starts[i]
            out.append((s, *self.literals[s]))
            i += 1
        return out

    def call_end(self, pos: int, limit: int = 5000) -> int:
        """The end of a step call starting at pos: its closing parenthesis, or the end of its line."""
        if self.masked.startswith("(", pos):
            depth = 0
            for i in range(pos, min(len(self.masked), pos + limit)):
                c = self.masked[i]
                depth += (c == "(") - (c == ")")
                if depth == 0:
                    return i + 1
            return min(len(self.masked), pos + limit)
        end = self.masked.find("\n", pos)
        return len(self.masked) if end < 0 else end


def _groovy(text: str) -> _Groovy | str:
    """Mask comments and strings, and match braces; an error message when the text does not close."""
    pieces: list[str] = []
    literals: dict[int, tuple[int, str]] = {}
    last = 0
    for m in _GROOVY_TOKEN.finditer(text):
        pieces.append(text[last : m.start()])
        token = m.group()
        if m.lastgroup == "comment":
            pieces.append(_NOT_LINE.sub(" ", token))
        elif m.lastgroup == "string":
            q = 3 if len(token) >= 6 and token[:3] in ("'''", '"""') else 1
            value = token[q:-q].replace("\\'", "'").replace('\\"', '"')
            literals[m.start()] = (m.end(), value)
            pieces.append(token[0] + _NOT_LINE.sub(" ", token[1:-1]) + token[-1])
        else:
            what = "comment" if token == "/*" else "string"
            return f"an unterminated {what} starts at line {_line_of(text, m.start())}"
        last = m.end()
    pieces.append(text[last:])
    masked = "".join(pieces)
    stack: list[int] = []
    braces: dict[int, int] = {}
    for m in re.finditer(r"[{}]", masked):
        if m.group() == "{":
            stack.append(m.start())
        elif not stack:
            return f"the `}}` at line {_line_of(text, m.start())} closes nothing"
        else:
            braces[stack.pop()] = m.start()
    if stack:
        return f"the `{{` at line {_line_of(text, stack[-1])} is never closed"
    return _Groovy(text, masked, literals, sorted(literals), braces)


@dataclass
class _Stage:
    name: str
    start: int  # the `stage` call
    end: int  # after its body
    body: tuple[int, int]
    children: list[_Stage] = field(default_factory=list)

    def own_segments(self) -> list[tuple[int, int]]:
        """The body without the nested stages."""
        out, pos = [], self.body[0]
        for child in self.children:
            out.append((pos, child.start))
            pos = child.end
        out.append((pos, self.body[1]))
        return [(a, b) for a, b in out if a < b]


def _stages(g: _Groovy, start: int, end: int, depth: int = 0) -> list[_Stage]:
    out: list[_Stage] = []
    pos = start
    while depth < 30 and len(out) <= MAX_JOBS:
        m = _STAGE_CALL.search(g.masked, pos, end)
        if not m:
            break
        after = m.end()
        literal = g.literal_at(after)
        if literal:
            name, after = literal[1], literal[0]
        elif m.group(1):  # stage(someVariable)
            close = g.masked.find(")", after, min(end, after + 300))
            if close < 0:
                pos = after
                continue
            name, after = g.text[after:close].strip(), close
        else:  # `stages`, `stage = ...`: not a stage
            pos = after
            continue
        if m.group(1):
            close = g.masked.find(")", after, min(end, after + 2000))
            after = close + 1 if close >= 0 else after
        j = after
        while j < end and g.masked[j] in " \t\r\n":
            j += 1
        if j < end and g.masked[j] == "{" and g.braces.get(j, end) < end:
            close = g.braces[j]
            stage = _Stage(_clean(name) or "(unnamed)", m.start(), close + 1, (j + 1, close))
            stage.children = _stages(g, j + 1, close, depth + 1)
            pos = close + 1
        else:  # scripted, old style: `stage 'Build'` and the steps that follow, up to the next stage
            nxt = _STAGE_CALL.search(g.masked, after, end)
            stop = nxt.start() if nxt else end
            stage = _Stage(_clean(name) or "(unnamed)", m.start(), stop, (after, stop))
            pos = after
        out.append(stage)
    return out


def _steps_in(g: _Groovy, segments: list[tuple[int, int]]) -> tuple[list[str], list[str]]:
    """Shell commands (sh, bat, powershell) and step names (labels, called steps, downstream jobs)."""
    commands: list[str] = []
    names: list[str] = []
    for start, end in segments:
        for m in _STEP.finditer(g.masked, start, end):
            call_end = g.call_end(m.end())
            region = g.masked[m.end() : call_end]
            found = g.literals_in(m.end(), call_end)
            script = re.search(r"(?<![\w$])script\s*:\s*", region)
            label = re.search(r"(?<![\w$])label\s*:\s*", region)
            chosen = [v for s, _, v in found if script and s == m.end() + script.end()] or [v for _, _, v in found[:1]]
            commands.extend(chosen)
            names.extend(v for s, _, v in found if label and s == m.end() + label.end())
        names.extend(m.group(1) for m in _IDENTIFIER.finditer(g.masked, start, end))
        for m in _BUILD_JOB.finditer(g.masked, start, end):
            literal = g.literal_at(m.end())
            if literal:
                names.append(literal[1])
    return commands, names


def _when_triggers(g: _Groovy, segments: list[tuple[int, int]]) -> list[CiTrigger] | None:
    """What a stage's `when { }` restricts it to; None when it has none, or none understood here."""
    found: list[CiTrigger] = []
    seen_when = False
    for start, end in segments:
        for w in _WHEN.finditer(g.masked, start, end):
            open_ = w.end() - 1
            close = g.braces.get(open_, open_)
            seen_when = True
            negated = [(n.end() - 1, g.braces.get(n.end() - 1, n.end())) for n in _NOT.finditer(g.masked, open_, close)]
            for c in _WHEN_CONDITION.finditer(g.masked, open_, close):
                if any(a <= c.start() <= b for a, b in negated):
                    continue
                literal = g.literal_at(c.end())
                value = _clean(literal[1], MAX_VALUE) if literal else ""
                kind = c.group(1)
                if kind in ("tag", "buildingTag"):
                    found.append(CiTrigger(TAG, {"tags": [value]} if value else {}))
                elif kind == "branch" and value:
                    found.append(CiTrigger(PUSH, {"branches": [value]}))
                elif kind == "changeRequest":
                    found.append(CiTrigger(PULL_REQUEST, {"branches": [value]} if value else {}))
                elif kind == "triggeredBy" and value:
                    found.append(_jenkins_cause(value))
    return found if seen_when and found else None


def _jenkins_cause(cause: str) -> CiTrigger:
    if "Timer" in cause:
        return CiTrigger(SCHEDULE, {"cause": cause})
    if "UserId" in cause or "UserCause" in cause:
        return CiTrigger(MANUAL, {"cause": cause})
    if any(k in cause for k in ("SCM", "BranchIndexing", "BranchEvent", "Push")):
        return CiTrigger(PUSH, {"cause": cause})
    return CiTrigger(OTHER, {"cause": cause})


def _jenkins_pipeline_triggers(g: _Groovy, triggers: _Triggers) -> None:
    for m in _CRON_CALL.finditer(g.masked):
        paren = g.masked.find("(", m.start(), m.end())
        call_end = g.call_end(paren if paren >= 0 else m.end())
        specs = [v for s, _, v in g.literals_in(m.end(), call_end)]
        timezone, crons = "", []
        for spec in specs:
            for line in spec.splitlines():
                line = line.split("%", 1)[0].strip() if m.group(1) == "parameterizedCron" else line.strip()
                if line.startswith("TZ="):
                    timezone = line[3:]
                elif _CRON_SPEC.match(line) and not line.startswith("#"):
                    crons.append(_clean(line, MAX_VALUE))
        if m.group(1) == "pollSCM":
            triggers.add(PUSH, {"poll": crons[0]} if crons else {})
            continue
        for cron in crons:
            triggers.add(SCHEDULE, {"cron": cron, **({"timezone": _clean(timezone, MAX_VALUE)} if timezone else {})})
    for m in _OTHER_TRIGGER.finditer(g.masked):
        what = m.group(1)
        call_end = g.call_end(m.end() - 1)
        if what == "upstream":
            region = g.masked[m.end() : call_end]
            named = re.search(r"upstreamProjects\s*:\s*", region)
            found = g.literals_in(m.end(), call_end)
            chosen = [v for s, _, v in found if named and s == m.end() + named.end()] or [v for _, _, v in found[:1]]
            projects = [p.strip() for v in chosen for p in v.split(",") if p.strip()]
            triggers.add(OTHER, {"upstream": _str_list(projects)} if projects else {"via": "upstream"})
        elif what in ("githubPush", "bitbucketPush"):
            triggers.add(PUSH, {"via": what})
        elif what == "gitlab":
            region = g.masked[m.end() : call_end]
            if not re.search(r"triggerOnPush\s*:\s*false", region):
                triggers.add(PUSH, {"via": what})
            if not re.search(r"triggerOnMergeRequest\s*:\s*false", region):
                triggers.add(PULL_REQUEST, {"via": what})
        elif what in ("ghprbTrigger", "githubPullRequests"):
            triggers.add(PULL_REQUEST, {"via": what})
        else:
            triggers.add(OTHER, {"via": what})


def _inputs(g: _Groovy, segments: list[tuple[int, int]]) -> list[str]:
    """The messages of `input` steps and directives (a person approves before the pipeline goes on)."""
    out = []
    for start, end in segments:
        for m in _INPUT.finditer(g.masked, start, end):
            literal = g.literal_at(m.end())  # input 'Proceed?'
            if not literal:  # input message: '...', input(message: '...'), input { message '...' }
                start = m.end() + 1 if g.masked[m.end()] in "({" else m.end()
                msg = _INPUT_MESSAGE.match(g.masked, start)
                literal = g.literal_at(msg.end()) if msg else None
            out.append(_clean(literal[1], MAX_VALUE) if literal else "")
    return out


def _parse_jenkins(path: str, text: str, findings: _Findings) -> ParsedPipeline | None:
    g = _groovy(text)
    if isinstance(g, str):
        findings.add(UNPARSEABLE, f"the Jenkinsfile does not parse: {g}")
        return None
    declarative = re.search(_CALL + r"pipeline\s*\{", g.masked)
    scripted = re.search(_CALL + r"(node|podTemplate|dockerNode|timestamps|ansiColor)\s*[({]", g.masked)
    library = re.search(r"@Library\b|" + _CALL + r"library\s*[('\"]", g.masked)
    stages = _stages(g, 0, len(g.masked))
    whole = [(0, len(g.masked))]
    loose_commands, loose_steps = _steps_in(g, whole) if not stages else ([], [])
    if not (declarative or scripted or stages or library or loose_commands):
        findings.add(UNPARSEABLE, "no `pipeline { }`, `node { }` or `stage(...)` found: not a Jenkins pipeline")
        return None
    for m in re.finditer(_CALL + r"load\s*\(?\s*(?=['\"])", g.masked):
        literal = g.literal_at(m.end())
        findings.add(UNSUPPORTED, f"`load {literal[1] if literal else ''}` is not followed: its stages are not listed")
    if library:
        findings.add(UNSUPPORTED, "shared library steps (@Library) are not read: what they run is not classified")

    triggers = _Triggers(findings)
    _jenkins_pipeline_triggers(g, triggers)
    jobs: list[CiJob] = []
    unrestricted = False
    manual: list[CiTrigger] = []

    def walk(stage: _Stage, ancestors: list[_Stage], inherited: list[CiTrigger] | None) -> None:
        nonlocal unrestricted
        segments = stage.own_segments()
        when = _when_triggers(g, segments)
        effective = when if when is not None else inherited
        for message in _inputs(g, segments):
            manual.append(CiTrigger(MANUAL, {"stage": stage.name, **({"message": message} if message else {})}))
        if stage.children:
            for child in stage.children:
                walk(child, [*ancestors, stage], effective)
            return
        if effective is None:
            unrestricted = True
        else:
            triggers.extend(effective)
        commands, steps = _steps_in(g, segments)
        kind = classify_job(names=[stage.name], stages=[a.name for a in ancestors], steps=steps, commands=commands)
        jobs.append(CiJob(stage.name, kind, (ancestors[0] if ancestors else stage).name))

    for stage in stages:
        walk(stage, [], None)
    if not stages and loose_commands and not declarative:  # scripted, without stages: one implicit job
        jobs.append(CiJob("(no stage)", classify_job(names=[], steps=loose_steps, commands=loose_commands)))
        unrestricted = True
    if not stages:
        manual.extend(CiTrigger(MANUAL, {"message": m} if m else {}) for m in _inputs(g, whole))
    any_branch = any(t.type == PUSH and "branches" not in t.detail for t in triggers.items)
    if (unrestricted or not jobs) and not any_branch:
        triggers.add(PUSH)  # built on SCM changes (a multibranch project)
    triggers.extend(manual)
    if not jobs:
        findings.add(NO_JOBS, "no stage(...) found")
    return _pipeline(JENKINS, path, path, triggers, jobs, findings)
