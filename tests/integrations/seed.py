"""Seed an MLflow server through the real client, the way teams' training code would."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag


@dataclass
class Seeded:
    experiments: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    versions: list[tuple[str, str]] = field(default_factory=list)


def seed_project(
    client: MlflowClient,
    *,
    prefix: str,
    project: str | None,
    n_models: int = 2,
    n_versions: int = 3,
    commit: str = "a" * 40,
    user: str = "alice",
    logged_models: bool = True,
    feature_refs: str = "",
) -> Seeded:
    """One experiment tagged for `project`, runs with params/metrics/dataset inputs, registered models with
    versions (MLflow 3 logged models when `logged_models`), and a champion alias on each model's last version."""
    out = Seeded()
    tags = {"mlgov.project": project} if project else {}
    exp = client.create_experiment(f"{prefix}exp", tags=tags)
    out.experiments.append(exp)
    for m in range(n_models):
        name = f"{prefix}model-{m}"
        client.create_registered_model(name, tags=tags)
        out.models.append(name)
        for v in range(n_versions):
            run_tags = {
                "mlflow.source.git.commit": commit,
                "mlflow.user": user,
                "mlflow.source.type": "LOCAL",
                "mlflow.source.name": "train.py",
            }
            if feature_refs:
                run_tags["feast.feature_refs"] = feature_refs
            run = client.create_run(exp, run_name=f"{name}-run-{v}", tags=run_tags)
            rid = run.info.run_id
            client.log_batch(
                rid,
                metrics=[Metric("auc", 0.8 + v / 100, 0, 0), Metric("auc", 0.85 + v / 100, 0, 1)],
                params=[Param("lr", "0.1"), Param("depth", str(v + 3))],
                tags=[RunTag("extra", "x")],
            )
            client.log_inputs(
                rid,
                datasets=[
                    DatasetInput(
                        Dataset(
                            name=f"{prefix}train",
                            digest=f"d{v % 2}",
                            source_type="s3",
                            source=f'{{"uri": "s3://bucket/{prefix}train-{v % 2}.parquet"}}',
                            schema='{"mlflow_colspec": []}',
                            profile='{"num_rows": 100}',
                        ),
                        tags=[InputTag("mlflow.data.context", "training")],
                    )
                ],
            )
            client.set_terminated(rid)
            out.runs.append(rid)
            if logged_models:
                lm = client.create_logged_model(exp, source_run_id=rid, name="model")
                mv = client.create_model_version(
                    name, source=f"models:/{lm.model_id}", model_id=lm.model_id, await_creation_for=0
                )
            else:
                mv = client.create_model_version(name, source=f"runs:/{rid}/model", run_id=rid, await_creation_for=0)
            out.versions.append((name, mv.version))
        client.set_registered_model_alias(name, "champion", out.versions[-1][1])
    return out
