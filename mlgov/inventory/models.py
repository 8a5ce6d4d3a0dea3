"""The inventory: what every team builds, and where it came from."""

from __future__ import annotations

from django.db import models

from mlgov.inventory.choices import (
    EdgeRelation,
    LaunchedBy,
    Lifecycle,
    ModelVersionStatus,
    NodeKind,
    PipelineKind,
    PipelineProvider,
    RiskTier,
    RunStatus,
)
from mlgov.inventory.validators import validate_no_control_chars


class ExternalKeyed(models.Model):
    """Objects that come from an integration, keyed by (source, external id) so a later sync upserts.

    `external_source` names the connection, e.g. ``mlflow:prod-tracking`` or ``github:acme/churn``.
    `removed_at` is set when a complete sync no longer sees the object.
    """

    external_source = models.CharField(max_length=120, blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    # A digest of the synced values: a sync compares it and writes nothing when it is unchanged.
    fingerprint = models.CharField(max_length=40, blank=True, editable=False)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True


class Team(models.Model):
    """A group of people that owns projects."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100, unique=True, validators=[validate_no_control_chars])
    description = models.TextField(blank=True, max_length=2000, validators=[validate_no_control_chars])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    """An ML product a team builds, with its risk tier and lifecycle stage."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="projects")
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120, validators=[validate_no_control_chars])
    description = models.TextField(blank=True, max_length=4000, validators=[validate_no_control_chars])
    risk_tier = models.PositiveSmallIntegerField(choices=RiskTier.choices, default=RiskTier.TIER_3)
    lifecycle = models.CharField(max_length=20, choices=Lifecycle.choices, default=Lifecycle.IN_DEVELOPMENT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["slug"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="project_team_name_uniq")]

    def __str__(self) -> str:
        return self.name


class Experiment(ExternalKeyed):
    """A tracking-server experiment (MLflow), mapped to a project or unassigned."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="experiments")
    name = models.CharField(max_length=500)
    tags = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_source", "external_id"],
                name="experiment_external_uniq",
                condition=~models.Q(external_id=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TrainingRun(ExternalKeyed):
    """One tracked run: its params, the latest value of each metric, the tags that matter, and who ran it."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    experiment = models.ForeignKey(Experiment, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    name = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, blank=True)
    user = models.CharField(max_length=255, blank=True)
    launched_by = models.CharField(max_length=10, choices=LaunchedBy.choices, default=LaunchedBy.UNKNOWN)
    source_type = models.CharField(max_length=40, blank=True)
    source_name = models.CharField(max_length=1000, blank=True)
    git_commit = models.CharField(max_length=64, blank=True, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    datasets = models.ManyToManyField("Dataset", through="RunInput", related_name="runs", blank=True)
    features = models.ManyToManyField("Feature", related_name="runs", blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_source", "external_id"],
                name="trainingrun_external_uniq",
                condition=~models.Q(external_id=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id


class RegisteredModel(ExternalKeyed):
    """A model in a registry (MLflow's registered model). Unassigned while `project` is empty."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="models")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_source", "external_id"],
                name="regmodel_external_uniq",
                condition=~models.Q(external_id=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ModelVersion(ExternalKeyed):
    """One version of a registered model, with where it came from and what it scored."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=40)
    status = models.CharField(max_length=24, choices=ModelVersionStatus.choices, default=ModelVersionStatus.READY)
    source = models.CharField(max_length=1000, blank=True)
    run_id = models.CharField(max_length=64, blank=True, db_index=True)
    training_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    git_commit = models.CharField(max_length=64, blank=True, db_index=True)
    tags = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="modelversion_model_version_uniq"),
            models.UniqueConstraint(
                fields=["external_source", "external_id"],
                name="modelversion_external_uniq",
                condition=~models.Q(external_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version}"


class ModelAlias(models.Model):
    """An alias (``champion``, ``production``...) of a registered model and the version holding it now."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=100)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["model_id", "alias"]
        constraints = [models.UniqueConstraint(fields=["model", "alias"], name="modelalias_model_alias_uniq")]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.alias}"


class Dataset(ExternalKeyed):
    """A dataset a run consumed: identified by name and content digest."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="datasets")
    name = models.CharField(max_length=255)
    digest = models.CharField(max_length=128, blank=True, db_index=True)
    source_type = models.CharField(max_length=60, blank=True)
    source = models.CharField(max_length=2000, blank=True)
    schema = models.JSONField(default=dict, blank=True)
    profile = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name", "digest"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_source", "external_id"],
                name="dataset_external_uniq",
                condition=~models.Q(external_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.digest[:12]}" if self.digest else self.name


class RunInput(models.Model):
    """A dataset a run consumed, in a context (training, evaluation...)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="inputs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="run_inputs")
    context = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["run_id", "dataset_id"]
        constraints = [models.UniqueConstraint(fields=["run", "dataset", "context"], name="runinput_uniq")]

    def __str__(self) -> str:
        return f"{self.run} <- {self.dataset} ({self.context})"


class Feature(ExternalKeyed):
    """A feature from a feature store view or set."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="features")
    name = models.CharField(max_length=255)
    feature_view = models.CharField(max_length=255, blank=True)
    dtype = models.CharField(max_length=60, blank=True)
    entity = models.CharField(max_length=255, blank=True)
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="features")

    class Meta:
        ordering = ["feature_view", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_source", "external_id"],
                name="feature_external_uniq",
                condition=~models.Q(external_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.feature_view}:{self.name}" if self.feature_view else self.name


class Pipeline(ExternalKeyed):
    """A CI or orchestration pipeline: its provider, config file, triggers and kind."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="pipelines")
    provider = models.CharField(max_length=16, choices=PipelineProvider.choices)
    name = models.CharField(max_length=255)
    config_path = models.CharField(max_length=500, blank=True)
    triggers = models.JSONField(default=list, blank=True)
    kind = models.CharField(max_length=16, choices=PipelineKind.choices, default=PipelineKind.CI)
    jobs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_source", "external_id"],
                name="pipeline_external_uniq",
                condition=~models.Q(external_id=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PipelineRun(ExternalKeyed):
    """One execution of a pipeline, on a commit."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    commit_sha = models.CharField(max_length=64, blank=True, db_index=True)
    trigger = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    jobs = models.JSONField(default=list, blank=True)
    # Test counts from an attached JUnit report (None: no report attached).
    tests_total = models.PositiveIntegerField(null=True, blank=True)
    tests_failed = models.PositiveIntegerField(null=True, blank=True)
    tests_errors = models.PositiveIntegerField(null=True, blank=True)
    tests_skipped = models.PositiveIntegerField(null=True, blank=True)
    # "This model was trained by CI from this commit": runs whose git commit equals this run's commit.
    training_runs = models.ManyToManyField(TrainingRun, related_name="pipeline_runs", blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "external_id"], name="pipelinerun_external_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline.name} #{self.external_id}"


# --- Lineage: one graph from data to deployment (see docs/lineage.md) ---


class LineageNode(models.Model):
    """A node of the lineage graph: an inventory object, a git commit, or an alias assignment.

    `key` identifies the node within its kind: the object's primary key as text for inventory objects,
    the lower-case SHA for a commit, and ``<model id>:<alias>:<version id>`` for an alias assignment.
    `object_id` is the inventory row (the model version, for an alias assignment; empty for a commit).
    """

    kind = models.CharField(max_length=16, choices=NodeKind.choices)
    key = models.CharField(max_length=300)
    object_id = models.BigIntegerField(null=True, blank=True)
    label = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="lineagenode_kind_key_uniq")]
        indexes = [models.Index(fields=["kind", "object_id"], name="lineagenode_kind_object_idx")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.label or self.key}"


class LineageEdge(models.Model):
    """A dependency: `downstream` <relation> `upstream`, with who observed it and when.

    `observed_at` is when the fact happened according to its source where known (a run's start, a
    version's registration, an event's time), else when mlgov first recorded it. `ended_at` is set when
    the fact stopped holding (an alias moved away, a run's inputs were replaced); the edge is kept.
    """

    # Indexed by the two walk indexes in Meta (covering on PostgreSQL, plain elsewhere), not by Django's own.
    upstream = models.ForeignKey(LineageNode, on_delete=models.CASCADE, related_name="downstream_edges", db_index=False)
    downstream = models.ForeignKey(LineageNode, on_delete=models.CASCADE, related_name="upstream_edges", db_index=False)
    # The kinds of both ends, copied from the nodes (a node's kind never changes): a walk's level is then
    # one index-only scan of the edges, without a join to the nodes.
    upstream_kind = models.CharField(max_length=16, choices=NodeKind.choices)
    downstream_kind = models.CharField(max_length=16, choices=NodeKind.choices)
    relation = models.CharField(max_length=16, choices=EdgeRelation.choices)
    source = models.CharField(max_length=160, blank=True)
    observed_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["upstream", "downstream", "relation"], name="lineageedge_uniq"),
        ]
        # Covering indexes for the walk on PostgreSQL (index-only scans; other backends use the foreign-key
        # indexes). See docs/lineage.md and tests/benchmarks/bench_lineage.py.
        indexes = [
            models.Index(
                fields=["downstream"],
                include=["id", "upstream", "relation", "upstream_kind", "observed_at", "ended_at", "source"],
                name="lineageedge_up_walk_idx",
            ),
            models.Index(
                fields=["upstream"],
                include=["id", "downstream", "relation", "downstream_kind", "observed_at", "ended_at", "source"],
                name="lineageedge_down_walk_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.downstream_id} {self.relation} {self.upstream_id}"


class LineageEvent(models.Model):
    """An OpenLineage RunEvent as received, kept whole (unknown facets included).

    (run id, event type, event time) is unique: a repeated event is recognised and ignored.
    """

    run_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=16)
    event_time = models.DateTimeField()
    job_namespace = models.CharField(max_length=300)
    job_name = models.CharField(max_length=500)
    producer = models.CharField(max_length=2000, blank=True)
    payload = models.JSONField(default=dict)
    received_by = models.CharField(max_length=150, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    pipeline_run = models.ForeignKey(
        PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="lineage_events"
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["run_id", "event_type", "event_time"], name="lineageevent_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.job_namespace}/{self.job_name} {self.event_type} {self.run_id}"
