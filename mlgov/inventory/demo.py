"""The demo organisation: teams, people in every role, and projects, written through the services so
the audit trail is real.

This is the part of the demo that people type into mlgov. What comes from outside systems (MLflow's
experiments, runs, models and datasets; CI pipelines) is seeded by `integrations.demo` and synced.

Idempotent: running it again changes nothing and writes no audit events.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db import transaction

from mlgov.accounts.models import User
from mlgov.accounts.services import membership_set, user_create, user_groups_set
from mlgov.inventory import services
from mlgov.inventory.models import Project, RegisteredModel, Team

ACTOR = "demo-seed"
# The external source under which earlier versions of the demo wrote fake models straight into the inventory.
LEGACY_SOURCE = "demo:seed"


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    groups: tuple[str, ...] = ()
    teams: tuple[tuple[str, str], ...] = ()  # (team slug, role)


@dataclass(frozen=True)
class DemoProject:
    slug: str
    team: str
    name: str
    risk_tier: int
    lifecycle: str
    description: str = ""


TEAMS = [
    ("fraud", "Fraud Detection", "Card and account fraud scoring."),
    ("recsys", "Recommendations", "Home feed and email recommendations."),
    ("forecasting", "Demand Forecasting", "Store and warehouse demand forecasts."),
    ("credit-risk", "Credit Risk", "Regulated credit decisioning models."),
]

PROJECTS = [
    DemoProject("card-fraud", "fraud", "Card fraud scorer", 1, "in_use", "Scores every card authorisation."),
    DemoProject("account-takeover", "fraud", "Account takeover detection", 2, "in_development"),
    DemoProject("home-feed", "recsys", "Home feed ranking", 2, "in_use", "Candidate retrieval and ranking."),
    DemoProject("email-recs", "recsys", "Email recommendations", 3, "retired"),
    DemoProject("store-demand", "forecasting", "Store demand forecast", 2, "in_use"),
    DemoProject("warehouse-demand", "forecasting", "Warehouse demand forecast", 3, "in_development"),
    DemoProject("pd-model", "credit-risk", "Probability of default", 1, "in_use", "Regulated: model risk reviewed."),
]

USERS = [
    DemoUser("admin", "Ada Admin", groups=("admins",)),
    DemoUser("manager", "Maya Manager", groups=("managers",)),
    DemoUser("reviewer", "Rui Reviewer", groups=("reviewers",)),
    DemoUser("reviewer2", "Rosa Reviewer", groups=("reviewers",)),
    DemoUser("fraud-lead", "Femi (fraud maintainer)", teams=(("fraud", "maintainer"),)),
    DemoUser("fraud-ds", "Fatima (fraud data scientist)", teams=(("fraud", "member"),)),
    DemoUser("recsys-lead", "Ravi (recsys maintainer)", teams=(("recsys", "maintainer"),)),
    DemoUser("forecast-lead", "Freya (forecasting maintainer)", teams=(("forecasting", "maintainer"),)),
    DemoUser("risk-lead", "Kofi (credit risk maintainer)", teams=(("credit-risk", "maintainer"),)),
    DemoUser("risk-ds", "Kim (credit risk member)", teams=(("credit-risk", "member"),)),
]


@transaction.atomic
def seed_organisation(*, password: str) -> list[DemoUser]:
    """Create (or leave as they are) the demo teams, users, memberships and projects."""
    teams: dict[str, Team] = {}
    for slug, name, description in TEAMS:
        teams[slug] = Team.objects.filter(slug=slug).first() or services.team_create(
            actor=ACTOR, slug=slug, name=name, description=description
        )
    hashed = ""
    for du in USERS:
        user = User.objects.filter(username=du.username).first()
        if user is None:
            user = user_create(
                actor=ACTOR,
                username=du.username,
                email=f"{du.username}@example.com",
                display_name=du.display_name,
                groups=du.groups,
                is_superuser=du.username == "admin",
            )
            # One hash for every demo user: they share a password the command prints anyway, and each
            # PBKDF2 hash costs about half a second.
            hashed = hashed or make_password(password)
            user.password = hashed
            user.save(update_fields=["password"])
        else:
            user_groups_set(actor=ACTOR, user=user, groups=du.groups)
        for team_slug, role in du.teams:
            membership_set(actor=ACTOR, user=user, team=teams[team_slug], role=role)
    for p in PROJECTS:
        if not Project.objects.filter(slug=p.slug).exists():
            services.project_create(
                actor=ACTOR,
                team=teams[p.team],
                slug=p.slug,
                name=p.name,
                risk_tier=p.risk_tier,
                lifecycle=p.lifecycle,
                description=p.description,
            )
    return USERS


def legacy_fake_models() -> int:
    """How many registered models an earlier demo wrote straight into the inventory (now stale)."""
    return RegisteredModel.objects.filter(external_source=LEGACY_SOURCE).count()
