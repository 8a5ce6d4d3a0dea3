"""The organisation config file: teams, members and roles, users, projects and integrations, as YAML.

`parse_config` validates the whole file into frozen dataclasses and names every problem by its path
(`teams[1].members[0].role: ...`). `config_apply` applies it in one transaction through the services:
idempotent (a second run changes nothing and writes no audit events but its own summary), and all or
nothing (an error leaves the database as it was).

    teams:
      - slug: fraud
        name: Fraud Detection
        members:
          - {user: femi, role: maintainer}
    users:
      - {username: femi, email: femi@example.com, display_name: Femi, groups: [reviewers]}
      - {username: ci-bot, service_account: true}
    projects:
      - {slug: card-fraud, team: fraud, name: Card fraud scorer, risk_tier: 1, lifecycle: in_use}
    integrations:
      mlflow:
        - name: prod
          tracking_uri: https://mlflow.example.com
          token_env_var: MLFLOW_PROD_TOKEN
          sync_interval_minutes: 15
          mapping: {tag: mlgov.project, prefixes: {"fraud-": card-fraud}}
      git:
        - name: card-fraud
          url: https://github.com/acme/card-fraud.git
          branch: main
          project: card-fraud
          credentials_env_var: GITHUB_TOKEN
          web_url: https://github.com/acme/card-fraud
      ci:
        - name: card-fraud-actions
          provider: github
          base_url: https://api.github.com
          target: acme/card-fraud
          token_env_var: GITHUB_TOKEN
          repository: card-fraud
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from integrations import hooks
from integrations.ci.services import ci_source_problems, ci_source_upsert
from integrations.git_services import (
    check_branch,
    check_env_var,
    check_url,
    check_web_url,
    git_repository_upsert,
    normalise_subdirectory,
)
from integrations.models import CiSource, GitRepository
from integrations.services import mlflow_connection_upsert
from mlgov.accounts.choices import TeamRole
from mlgov.accounts.constants import ORG_GROUPS
from mlgov.accounts.models import User
from mlgov.accounts.services import membership_set, user_create, user_groups_set
from mlgov.audit.services import audit_record
from mlgov.errors import ValidationFailed
from mlgov.inventory import services as inventory
from mlgov.inventory.choices import Lifecycle, RiskTier
from mlgov.inventory.models import Project, Team

MAX_CONFIG_BYTES = 2 * 1024 * 1024


class ConfigError(ValidationFailed):
    """The file is invalid; `details["problems"]` lists every problem by its path."""


@dataclass(frozen=True)
class UserSpec:
    username: str
    email: str = ""
    display_name: str = ""
    groups: tuple[str, ...] = ()
    service_account: bool = False


@dataclass(frozen=True)
class TeamSpec:
    slug: str
    name: str
    description: str = ""
    members: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ProjectSpec:
    slug: str
    team: str
    name: str
    description: str = ""
    risk_tier: int = 3
    lifecycle: str = "in_development"


@dataclass(frozen=True)
class MlflowSpec:
    name: str
    tracking_uri: str
    token_env_var: str = ""
    mapping: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    sync_interval_minutes: int = 15
    full_sync_every: int = 24
    description: str = ""


@dataclass(frozen=True)
class GitSpec:
    name: str
    url: str
    project: str
    branch: str = "main"
    subdirectory: str = ""
    credentials_env_var: str = ""
    web_url: str = ""
    enabled: bool = True
    sync_interval_minutes: int = 60


@dataclass(frozen=True)
class CiSpec:
    name: str
    provider: str
    base_url: str
    target: str
    token_env_var: str = ""
    repository: str = ""  # the name of a Git repository (of this file or already known)
    enabled: bool = True


@dataclass(frozen=True)
class OrgConfig:
    users: tuple[UserSpec, ...] = ()
    teams: tuple[TeamSpec, ...] = ()
    projects: tuple[ProjectSpec, ...] = ()
    mlflow: tuple[MlflowSpec, ...] = ()
    git: tuple[GitSpec, ...] = ()
    ci: tuple[CiSpec, ...] = ()
    # Sections registered by the apps above integrations (integrations.hooks.register_config_section).
    sections: tuple[tuple[str, Any], ...] = ()


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def items(self, data: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
        if data is None:
            return []
        if not isinstance(data, list):
            self.problems.append(f"{path}: must be a list")
            return []
        out = []
        for i, item in enumerate(data):
            if isinstance(item, dict):
                out.append((f"{path}[{i}]", item))
            else:
                self.problems.append(f"{path}[{i}]: must be a mapping")
        return out

    def fields(self, item: dict[str, Any], path: str, spec: dict[str, tuple[type, bool]]) -> dict[str, Any]:
        unknown = sorted(set(item) - set(spec))
        if unknown:
            self.problems.append(f"{path}: unknown key(s) {', '.join(unknown)}")
        out = {}
        for key, (kind, required) in spec.items():
            if key not in item:
                if required:
                    self.problems.append(f"{path}.{key}: required")
                continue
            value = item[key]
            if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
                self.problems.append(f"{path}.{key}: must be {kind.__name__}")
                continue
            if isinstance(value, str) and ((not value.strip() and required) or any(ord(c) < 32 for c in value)):
                self.problems.append(f"{path}.{key}: must be non-empty text without control characters")
                continue
            out[key] = value
        return out


def _known(model: Any, field: str, declared: set[str], named: set[str]) -> set[str]:
    """Which of `named` exist: declared in the file, or in the database already (one query)."""
    elsewhere = named - declared
    if not elsewhere:
        return declared
    return declared | set(model.objects.filter(**{f"{field}__in": elsewhere}).values_list(field, flat=True))


def parse_config(text: str) -> OrgConfig:
    """Validate the whole file; raise ConfigError listing every problem."""
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise ConfigError("The config file is too large.", details={"problems": [f"over {MAX_CONFIG_BYTES} bytes"]})
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError("The config file is not valid YAML.", details={"problems": [str(exc)]}) from exc
    r = _Reader()
    if not isinstance(data, dict):
        raise ConfigError("The config file must be a mapping.", details={"problems": ["<root>: must be a mapping"]})
    extra = {name: (parse, apply) for name, parse, apply in hooks.config_sections()}
    unknown = sorted(set(data) - {"users", "teams", "projects", "integrations"} - set(extra))
    if unknown:
        r.problems.append(f"<root>: unknown key(s) {', '.join(unknown)}")

    users = []
    for path, item in r.items(data.get("users"), "users"):
        f = r.fields(
            item,
            path,
            {
                "username": (str, True),
                "email": (str, False),
                "display_name": (str, False),
                "groups": (list, False),
                "service_account": (bool, False),
            },
        )
        bad = [g for g in f.get("groups", []) if g not in ORG_GROUPS]
        if bad:
            r.problems.append(
                f"{path}.groups: unknown group(s) {', '.join(map(str, bad))}; use {', '.join(ORG_GROUPS)}"
            )
        if "username" in f:
            users.append(
                UserSpec(
                    f["username"],
                    f.get("email", ""),
                    f.get("display_name", ""),
                    tuple(f.get("groups", [])),
                    f.get("service_account", False),
                )
            )
    teams = []
    for path, item in r.items(data.get("teams"), "teams"):
        f = r.fields(
            item,
            path,
            {"slug": (str, True), "name": (str, True), "description": (str, False), "members": (list, False)},
        )
        members = []
        for mpath, m in r.items(f.get("members"), f"{path}.members"):
            mf = r.fields(m, mpath, {"user": (str, True), "role": (str, False)})
            role = mf.get("role", TeamRole.MEMBER)
            if role not in TeamRole.values:
                r.problems.append(f"{mpath}.role: must be one of {', '.join(TeamRole.values)}")
            elif "user" in mf:
                members.append((mf["user"], role))
        if "slug" in f and "name" in f:
            teams.append(TeamSpec(f["slug"], f["name"], f.get("description", ""), tuple(members)))
    projects = []
    for path, item in r.items(data.get("projects"), "projects"):
        f = r.fields(
            item,
            path,
            {
                "slug": (str, True),
                "team": (str, True),
                "name": (str, True),
                "description": (str, False),
                "risk_tier": (int, False),
                "lifecycle": (str, False),
            },
        )
        if f.get("risk_tier", 3) not in RiskTier.values:
            r.problems.append(f"{path}.risk_tier: must be 1, 2 or 3")
        if f.get("lifecycle", "in_development") not in Lifecycle.values:
            r.problems.append(f"{path}.lifecycle: must be one of {', '.join(Lifecycle.values)}")
        if {"slug", "team", "name"} <= f.keys():
            projects.append(
                ProjectSpec(
                    f["slug"],
                    f["team"],
                    f["name"],
                    f.get("description", ""),
                    f.get("risk_tier", 3),
                    f.get("lifecycle", "in_development"),
                )
            )
    mlflow = []
    integrations = data.get("integrations") or {}
    if not isinstance(integrations, dict):
        r.problems.append("integrations: must be a mapping")
        integrations = {}
    for key in sorted(set(integrations) - {"mlflow", "git", "ci"}):
        r.problems.append(f"integrations: unknown integration {key!r}")
    for path, item in r.items(integrations.get("mlflow"), "integrations.mlflow"):
        f = r.fields(
            item,
            path,
            {
                "name": (str, True),
                "tracking_uri": (str, True),
                "token_env_var": (str, False),
                "mapping": (dict, False),
                "enabled": (bool, False),
                "sync_interval_minutes": (int, False),
                "full_sync_every": (int, False),
                "description": (str, False),
            },
        )
        if {"name", "tracking_uri"} <= f.keys():
            mlflow.append(MlflowSpec(**f))
    git_repos, git_paths = [], []
    for path, item in r.items(integrations.get("git"), "integrations.git"):
        f = r.fields(
            item,
            path,
            {
                "name": (str, True),
                "url": (str, True),
                "project": (str, True),
                "branch": (str, False),
                "subdirectory": (str, False),
                "credentials_env_var": (str, False),
                "web_url": (str, False),
                "enabled": (bool, False),
                "sync_interval_minutes": (int, False),
            },
        )
        before = len(r.problems)
        for key, check in (
            ("url", check_url),
            ("branch", check_branch),
            ("web_url", check_web_url),
            ("credentials_env_var", check_env_var),
        ):
            problem = check(f[key]) if key in f else None
            if problem:
                r.problems.append(f"{path}.{key}: {problem}")
        if "subdirectory" in f:
            f["subdirectory"], problem = normalise_subdirectory(f["subdirectory"])
            if problem:
                r.problems.append(f"{path}.subdirectory: {problem}")
        env_var = f.get("credentials_env_var", "")
        if env_var and not f.get("url", "").startswith(("https://", "http://")):
            r.problems.append(f"{path}.credentials_env_var: only https URLs use a token")
        if not 1 <= f.get("sync_interval_minutes", 60) <= 7 * 24 * 60:
            r.problems.append(f"{path}.sync_interval_minutes: must be between 1 and 10080")
        if {"name", "url", "project"} <= f.keys() and len(r.problems) == before:
            git_repos.append(GitSpec(**f))
            git_paths.append(path)

    ci_sources, ci_paths = [], []
    for path, item in r.items(integrations.get("ci"), "integrations.ci"):
        f = r.fields(
            item,
            path,
            {
                "name": (str, True),
                "provider": (str, True),
                "base_url": (str, True),
                "target": (str, True),
                "token_env_var": (str, False),
                "repository": (str, False),
                "enabled": (bool, False),
            },
        )
        before = len(r.problems)
        if "name" in f:
            try:
                CiSource._meta.get_field("name").run_validators(f["name"])
            except DjangoValidationError as exc:
                r.problems += [f"{path}.name: {message}" for message in exc.messages]
        if "provider" in f:
            values = {k: v for k, v in f.items() if k in ("base_url", "target", "token_env_var")}
            for key, problem in ci_source_problems(values, f["provider"]).items():
                r.problems.append(f"{path}.{key}: {problem}")
            f.update(values)  # the base URL as the service stores it
        if {"name", "provider", "base_url", "target"} <= f.keys() and len(r.problems) == before:
            ci_sources.append(CiSpec(**f))
            ci_paths.append(path)

    # Names the file refers to must be declared in it or exist already: one query per kind of name.
    teams_known = _known(Team, "slug", {t.slug for t in teams}, {p.team for p in projects})
    for i, p in enumerate(projects):
        if p.team not in teams_known:
            r.problems.append(f"projects[{i}].team: unknown team {p.team!r}")
    projects_known = _known(Project, "slug", {p.slug for p in projects}, {g.project for g in git_repos})
    for path, g in zip(git_paths, git_repos, strict=True):
        if g.project not in projects_known:
            r.problems.append(f"{path}.project: unknown project {g.project!r}")
    repositories_known = _known(
        GitRepository, "name", {g.name for g in git_repos}, {c.repository for c in ci_sources if c.repository}
    )
    for path, c in zip(ci_paths, ci_sources, strict=True):
        if c.repository and c.repository not in repositories_known:
            r.problems.append(f"{path}.repository: unknown Git repository {c.repository!r}")
    known_users = {u.username for u in users}
    users_known = _known(User, "username", known_users, {name for t in teams for name, _ in t.members})
    for i, t in enumerate(teams):
        for j, (username, _) in enumerate(t.members):
            if username not in users_known:
                r.problems.append(f"teams[{i}].members[{j}].user: unknown user {username!r}")
    for label, specs in (
        ("users", [u.username for u in users]),
        ("teams", [t.slug for t in teams]),
        ("projects", [p.slug for p in projects]),
        ("integrations.mlflow", [m.name for m in mlflow]),
        ("integrations.git", [g.name for g in git_repos]),
        ("integrations.ci", [c.name for c in ci_sources]),
    ):
        dupes = sorted({x for x in specs if specs.count(x) > 1})
        if dupes:
            r.problems.append(f"{label}: duplicate {', '.join(dupes)}")
    context = hooks.ConfigContext(
        frozenset(t.slug for t in teams), frozenset(known_users), frozenset(p.slug for p in projects)
    )
    sections = []
    for name, (parse, _) in extra.items():
        if name in data:
            parsed, problems = parse(data[name], context)
            r.problems += problems
            sections.append((name, parsed))
    if r.problems:
        raise ConfigError(f"The config file has {len(r.problems)} problem(s).", details={"problems": r.problems})
    return OrgConfig(
        users=tuple(users),
        teams=tuple(teams),
        projects=tuple(projects),
        mlflow=tuple(mlflow),
        git=tuple(git_repos),
        ci=tuple(ci_sources),
        sections=tuple(sections),
    )


@transaction.atomic
def config_apply(*, actor: Any, config: OrgConfig, source_name: str = "") -> dict[str, int]:
    """Apply a parsed config. Returns counts of what changed. Removes nothing that the file omits."""
    changed = {
        "users": 0,
        "teams": 0,
        "memberships": 0,
        "projects": 0,
        "mlflow_connections": 0,
        "git_repositories": 0,
        "ci_sources": 0,
    }
    for u in config.users:
        user = User.objects.filter(username=u.username).first()
        if user is None:
            user_create(
                actor=actor,
                username=u.username,
                email=u.email,
                display_name=u.display_name,
                is_service_account=u.service_account,
                groups=u.groups,
            )
            changed["users"] += 1
        elif sorted(user.groups.values_list("name", flat=True)) != sorted(u.groups):
            user_groups_set(actor=actor, user=user, groups=u.groups)
            changed["users"] += 1
    for t in config.teams:
        team = Team.objects.filter(slug=t.slug).first()
        if team is None:
            team = inventory.team_create(actor=actor, slug=t.slug, name=t.name, description=t.description)
            changed["teams"] += 1
        elif (team.name, team.description) != (t.name, t.description):
            inventory.team_update(actor=actor, team=team, name=t.name, description=t.description)
            changed["teams"] += 1
        for username, role in t.members:
            user = User.objects.get(username=username)
            current = user.memberships.filter(team=team).values_list("role", flat=True).first()
            if current != role:
                membership_set(actor=actor, user=user, team=team, role=role)
                changed["memberships"] += 1
    for p in config.projects:
        team = Team.objects.get(slug=p.team)
        project = Project.objects.filter(slug=p.slug).first()
        values = {"name": p.name, "description": p.description, "risk_tier": p.risk_tier, "lifecycle": p.lifecycle}
        if project is None:
            inventory.project_create(actor=actor, team=team, slug=p.slug, **values)
            changed["projects"] += 1
        elif project.team_id != team.pk or any(getattr(project, k) != v for k, v in values.items()):
            inventory.project_update(actor=actor, project=project, team=team, **values)
            changed["projects"] += 1
    for m in config.mlflow:
        values = {k: v for k, v in m.__dict__.items() if k != "name"}
        _, outcome = mlflow_connection_upsert(actor=actor, name=m.name, **values)
        changed["mlflow_connections"] += outcome != "unchanged"
    for g in config.git:
        values = {k: v for k, v in g.__dict__.items() if k not in ("name", "project")}
        project = Project.objects.get(slug=g.project)
        _, outcome = git_repository_upsert(actor=actor, name=g.name, project=project, **values)
        changed["git_repositories"] += outcome != "unchanged"
    for c in config.ci:
        values = {k: v for k, v in c.__dict__.items() if k not in ("name", "repository")}
        repository = GitRepository.objects.get(name=c.repository) if c.repository else None
        _, outcome = ci_source_upsert(actor=actor, name=c.name, repository=repository, **values)
        changed["ci_sources"] += outcome != "unchanged"
    appliers = {name: apply for name, _, apply in hooks.config_sections()}
    for name, parsed in config.sections:
        changed[name] = appliers[name](parsed, actor)
    if any(changed.values()):
        audit_record(
            actor=actor, action="config.applied", target_type="config", target_repr=source_name[:300], after=changed
        )
    return changed
