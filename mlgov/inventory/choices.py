from django.db import models


class Lifecycle(models.TextChoices):
    """The model-risk inventory's lifecycle categories."""

    IN_DEVELOPMENT = "in_development", "In development"
    IN_USE = "in_use", "In use"
    RETIRED = "retired", "Retired"


class RiskTier(models.IntegerChoices):
    TIER_1 = 1, "Tier 1 (high)"
    TIER_2 = 2, "Tier 2 (medium)"
    TIER_3 = 3, "Tier 3 (low)"


class ModelVersionStatus(models.TextChoices):
    PENDING_REGISTRATION = "PENDING_REGISTRATION", "Pending registration"
    FAILED_REGISTRATION = "FAILED_REGISTRATION", "Failed registration"
    READY = "READY", "Ready"


class PipelineProvider(models.TextChoices):
    GITHUB = "github", "GitHub Actions"
    GITLAB = "gitlab", "GitLab CI"
    JENKINS = "jenkins", "Jenkins"
    MLFLOW = "mlflow", "MLflow"
    OPENLINEAGE = "openlineage", "OpenLineage"
    OTHER = "other", "Other"


class PipelineKind(models.TextChoices):
    DATA = "data", "Data"
    TRAINING = "training", "Training"
    EVALUATION = "evaluation", "Evaluation"
    DEPLOYMENT = "deployment", "Deployment"
    CI = "ci", "CI"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


class LaunchedBy(models.TextChoices):
    """Who started a training run: a person, or a CI job / service account (automated training)."""

    PERSON = "person", "Person"
    SERVICE = "service", "CI or service"
    UNKNOWN = "unknown", "Unknown"


class NodeKind(models.TextChoices):
    """What a lineage node stands for. Object kinds use the inventory model's name."""

    DATASET = "dataset", "Dataset"
    FEATURE = "feature", "Feature"
    TRAINING_RUN = "trainingrun", "Training run"
    COMMIT = "commit", "Git commit"
    PIPELINE_RUN = "pipelinerun", "Pipeline run"
    MODEL_VERSION = "modelversion", "Model version"
    ALIAS = "alias", "Alias assignment"


class EdgeRelation(models.TextChoices):
    """How a downstream node depends on an upstream one; read as "<downstream> <relation> <upstream>"."""

    CONSUMED = "consumed", "consumed"  # dataset -> training run or pipeline run
    USED = "used", "used"  # feature -> training run
    FROM_COMMIT = "from_commit", "ran from commit"  # commit -> training run
    BUILT = "built", "built"  # commit -> pipeline run ("pipeline run built commit")
    EXECUTED = "executed", "was executed by"  # pipeline run -> training run ("pipeline run executed run")
    PRODUCED_BY = "produced_by", "was produced by"  # training run -> model version, pipeline run -> dataset
    ASSIGNED = "assigned", "is assigned to"  # model version -> alias assignment
    DERIVED_FROM = "derived_from", "was derived from"  # dataset -> dataset
