MLFLOW = "mlflow"

AUDIT_ACTIONS = {
    "mlflowconnection.created": "An MLflow connection was added",
    "mlflowconnection.updated": "An MLflow connection was changed",
    "mlflowconnection.deleted": "An MLflow connection was removed",
    "sync.started": "A sync started",
    "sync.succeeded": "A sync completed",
    "sync.failed": "A sync failed",
    "sync.refused": "A sync was refused because another one is running for the same target",
    "mlflow.alias_set": "An alias was set in MLflow by mlgov",
    "mlflow.alias_deleted": "An alias was deleted in MLflow by mlgov",
    "mlflow.version_tags_set": "Tags were set on an MLflow model version by mlgov",
    "config.applied": "An organisation config file was applied",
    "cisource.created": "A CI source (polled for runs) was added",
    "cisource.updated": "A CI source was changed",
    "cisource.deleted": "A CI source was removed",
    "security.webhook_rejected": "A CI webhook delivery was refused (signature, header, event, body or size)",
    "gitrepository.created": "A Git repository was added",
    "gitrepository.updated": "A Git repository was changed",
    "gitrepository.deleted": "A Git repository was removed",
    "gitrepository.scanned": "A Git repository's head was scanned: its signals, findings and activity were replaced",
}
