"""factory_boy factories for every model. They write through the ORM (no audit events), for speed;
tests that check auditing call the services."""

from __future__ import annotations

import factory
from django.utils import timezone

from mlgov.accounts.models import Membership, User
from mlgov.inventory.models import (
    Dataset,
    Experiment,
    Feature,
    ModelAlias,
    ModelVersion,
    Pipeline,
    PipelineRun,
    Project,
    RegisteredModel,
    Team,
    TrainingRun,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        from django.contrib.auth.models import Group

        if extracted:
            self.groups.set([Group.objects.get_or_create(name=g)[0] for g in extracted])
        self.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = "member"


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    team = factory.SubFactory(TeamFactory)
    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.Sequence(lambda n: f"Project {n}")
    risk_tier = 2
    lifecycle = "in_use"


class RegisteredModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegisteredModel

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"model-{n}")
    external_source = "mlflow:test"
    external_id = factory.LazyAttribute(lambda m: m.name)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    model = factory.SubFactory(RegisteredModelFactory)
    version = factory.Sequence(lambda n: str(n + 1))
    external_source = "mlflow:test"
    external_id = factory.LazyAttribute(lambda v: f"{v.model.name}/{v.version}")
    run_id = factory.Sequence(lambda n: f"{n:032x}")
    git_commit = factory.Sequence(lambda n: f"{n:040x}")
    source = factory.LazyAttribute(lambda v: f"models:/m-{v.run_id}")
    metrics = factory.LazyFunction(lambda: {"auc": 0.9})
    registered_at = factory.LazyFunction(timezone.now)


class ModelAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelAlias

    version = factory.SubFactory(ModelVersionFactory)
    model = factory.LazyAttribute(lambda a: a.version.model)
    alias = "champion"


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"dataset-{n}")
    digest = factory.Sequence(lambda n: f"{n:016x}")
    source_type = "s3"
    source = factory.LazyAttribute(lambda d: f"s3://bucket/{d.name}.parquet")
    external_source = "mlflow:test"
    external_id = factory.LazyAttribute(lambda d: f"{d.name}@{d.digest}")


class FeatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feature

    project = factory.SubFactory(ProjectFactory)
    dataset = factory.SubFactory(DatasetFactory, project=factory.SelfAttribute("..project"))
    name = factory.Sequence(lambda n: f"feature_{n}")
    feature_view = "customer_features"
    dtype = "float64"
    entity = "customer_id"
    external_source = "mlflow:test"
    external_id = factory.LazyAttribute(lambda f: f"{f.feature_view}:{f.name}")


class PipelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pipeline

    project = factory.SubFactory(ProjectFactory)
    provider = "github"
    name = factory.Sequence(lambda n: f"pipeline-{n}")
    config_path = ".github/workflows/train.yml"
    kind = "training"
    external_source = "github:acme/repo"
    external_id = factory.LazyAttribute(lambda p: p.name)


class PipelineRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PipelineRun

    pipeline = factory.SubFactory(PipelineFactory)
    external_id = factory.Sequence(lambda n: str(1000 + n))
    external_source = "github:acme/repo"
    status = "success"
    commit_sha = factory.Sequence(lambda n: f"{n:040x}")
    trigger = "push"
    started_at = factory.LazyFunction(timezone.now)


class ExperimentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Experiment

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"experiment-{n}")
    external_source = "mlflow:test"
    external_id = factory.Sequence(lambda n: str(n + 1))


class TrainingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRun

    experiment = factory.SubFactory(ExperimentFactory)
    project = factory.LazyAttribute(lambda r: r.experiment.project)
    name = factory.Sequence(lambda n: f"run-{n}")
    status = "FINISHED"
    user = "alice"
    launched_by = "person"
    git_commit = factory.Sequence(lambda n: f"{n + 7:040x}")
    params = factory.LazyFunction(lambda: {"lr": "0.1"})
    metrics = factory.LazyFunction(lambda: {"auc": 0.91})
    started_at = factory.LazyFunction(timezone.now)
    external_source = "mlflow:test"
    external_id = factory.Sequence(lambda n: f"{n:032x}")


# --- assessments ---


class AssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.Assessment"

    project = factory.SubFactory(ProjectFactory)
    rubric_id = "azure-mlops"
    rubric_version = "1"
    level = 0
    dimensions = factory.LazyFunction(dict)
    scorecard = factory.LazyFunction(dict)
    fingerprint = factory.Sequence(lambda n: f"{n:040x}")
    is_latest = True
    trigger = "cli"
    computed_at = factory.LazyFunction(timezone.now)
    checked_at = factory.LazyAttribute(lambda a: a.computed_at)
