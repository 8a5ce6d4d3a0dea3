"""Integration connections and the record of every sync."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from integrations.choices import SyncMode, SyncStatus
from mlgov.inventory.validators import validate_no_control_chars


class MlflowConnection(models.Model):
    """An MLflow tracking server (or local store) and how its objects map onto mlgov projects.

    `mapping` is a dict:
      {"tag": "mlgov.project",                     # experiment / model tag naming the project slug
       "prefixes": {"fraud-": "card-fraud"},       # name prefix -> project slug
       "experiments": {"Default": "sandbox"},      # explicit experiment name -> project slug
       "models": {"pd-logit": "pd-model"}}         # explicit registered model name -> project slug
    Objects no rule maps are kept, unassigned.
    """

    name = models.SlugField(max_length=60, unique=True)
    tracking_uri = models.CharField(max_length=500)
    token_env_var = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the MLflow token. The token itself is never stored.",
    )
    mapping = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    sync_interval_minutes = models.PositiveIntegerField(default=15)
    full_sync_every = models.PositiveIntegerField(
        default=24, help_text="Every Nth scheduled sync is a full pass (it also detects removals)."
    )
    description = models.CharField(max_length=500, blank=True, validators=[validate_no_control_chars])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def external_source(self) -> str:
        return f"mlflow:{self.name}"


class SyncRun(models.Model):
    """One sync of one target: when, how it went, and counts per kind of object."""

    target = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=20)
    mode = models.CharField(max_length=12, choices=SyncMode.choices, default=SyncMode.FULL)
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    triggered_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The high-water mark the next incremental sync starts from (set when this one started).
    watermark = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # At most one running sync per target, enforced by the database.
            models.UniqueConstraint(fields=["target"], condition=Q(status="running"), name="syncrun_one_running"),
        ]

    def __str__(self) -> str:
        return f"{self.target} #{self.pk} {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class GitRepository(models.Model):
    """A Git repository scanned for MLOps practices: a URL (https, ssh or local path), a branch, an optional
    subdirectory (monorepos), and the project it belongs to."""

    name = models.SlugField(max_length=60, unique=True)
    url = models.CharField(max_length=500)
    branch = models.CharField(max_length=200, default="main")
    subdirectory = models.CharField(max_length=300, blank=True)
    project = models.ForeignKey(
        "inventory.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="repositories"
    )
    credentials_env_var = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding a token for https clones. Never the token itself.",
    )
    web_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Browsable URL (https://github.com/acme/repo). Used for file links and to match CI events.",
    )
    enabled = models.BooleanField(default=True)
    sync_interval_minutes = models.PositiveIntegerField(default=60)
    head_sha = models.CharField(max_length=64, blank=True)
    scanned_at = models.DateTimeField(null=True, blank=True)
    # {"last_commit_sha", "last_commit_at", "commits_per_week": [{"week": "2026-W47", "commits": 12}],
    #  "committers": [{"name", "email", "commits"}]}
    activity = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def sync_target(self) -> str:
        return f"git:{self.name}"


class RepoSignal(models.Model):
    """One MLOps practice found in a repository, with the file and commit as its evidence."""

    repository = models.ForeignKey(GitRepository, on_delete=models.CASCADE, related_name="signals")
    kind = models.CharField(max_length=40, db_index=True)
    path = models.CharField(max_length=1000)
    commit_sha = models.CharField(max_length=64)
    detail = models.JSONField(default=dict, blank=True)
    observed_at = models.DateTimeField()

    class Meta:
        ordering = ["kind", "path"]
        constraints = [models.UniqueConstraint(fields=["repository", "kind", "path"], name="reposignal_uniq")]

    def __str__(self) -> str:
        return f"{self.repository}: {self.kind} {self.path}"


class RepoFinding(models.Model):
    """A problem found while scanning (broken YAML, an include that was recorded but not fetched...)."""

    repository = models.ForeignKey(GitRepository, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=40)
    path = models.CharField(max_length=1000, blank=True)
    message = models.TextField()
    commit_sha = models.CharField(max_length=64, blank=True)
    observed_at = models.DateTimeField()

    class Meta:
        ordering = ["path", "kind"]

    def __str__(self) -> str:
        return f"{self.repository}: {self.kind} {self.path}"


class CiSource(models.Model):
    """A CI system polled for runs (backfill, missed webhooks): GitHub Actions, GitLab CI or Jenkins."""

    class Provider(models.TextChoices):
        GITHUB = "github", "GitHub Actions"
        GITLAB = "gitlab", "GitLab CI"
        JENKINS = "jenkins", "Jenkins"

    name = models.SlugField(max_length=60, unique=True)
    provider = models.CharField(max_length=10, choices=Provider.choices)
    base_url = models.CharField(max_length=500, help_text="e.g. https://api.github.com, https://gitlab.example.com")
    target = models.CharField(max_length=300, help_text="owner/repo (GitHub), project id or path (GitLab), job path")
    token_env_var = models.CharField(max_length=100, blank=True)
    repository = models.ForeignKey(
        GitRepository, null=True, blank=True, on_delete=models.SET_NULL, related_name="ci_sources"
    )
    enabled = models.BooleanField(default=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"


class WebhookDelivery(models.Model):
    """A CI webhook delivery. (provider, delivery_key) is unique, so a replay has exactly one effect."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    provider = models.CharField(max_length=10)
    delivery_key = models.CharField(max_length=200)
    event = models.CharField(max_length=60)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    payload = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    pipeline_run = models.ForeignKey(
        "inventory.PipelineRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["provider", "delivery_key"], name="webhookdelivery_uniq")]

    def __str__(self) -> str:
        return f"{self.provider} {self.event} {self.delivery_key}"
