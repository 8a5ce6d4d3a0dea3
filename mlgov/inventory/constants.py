_ENTITIES = {
    "team": "team",
    "project": "project",
    "registeredmodel": "registered model",
    "modelversion": "model version",
    "dataset": "dataset",
    "feature": "feature",
    "pipeline": "pipeline",
    "pipelinerun": "pipeline run",
    "experiment": "experiment",
    "trainingrun": "training run",
}

AUDIT_ACTIONS = {
    f"{key}.{verb}": f"A {label} was {verb}"
    for key, label in _ENTITIES.items()
    for verb in ("created", "updated", "deleted", "removed")
}
AUDIT_ACTIONS.update(
    {
        "modelalias.assigned": "A model alias was pointed at a version",
        "modelalias.removed": "A model alias was removed",
        "pipelinerun.training_runs_linked": "A CI run was linked to the training runs of its commit",
        "pipelinerun.test_report_recorded": "A JUnit test report was recorded on a CI run",
        "lineage.edges_recorded": "Lineage edges into a node were recorded or ended",
        "lineage.event_received": "An OpenLineage run event was received",
    }
)
