"""Audit actions and notification events of the governance app."""

AUDIT_ACTIONS = {
    "promotionpolicy.created": "A promotion policy was created",
    "promotionpolicy.updated": "A promotion policy was changed",
    "promotionpolicy.deleted": "A promotion policy was deleted",
    "promotion.requested": "A promotion of a model version to an alias was requested",
    "promotion.reviewed": "A reviewer approved a promotion request (not yet the last approval)",
    "promotion.approved": "A promotion request received its last required approval",
    "promotion.rejected": "A promotion request was rejected",
    "promotion.cancelled": "A promotion request was cancelled",
    "promotion.expired": "A pending promotion request passed its policy's age limit",
    "promotion.gate_waived": "A manager waived a failing gate of a promotion request",
    "promotion.apply_started": "The alias move of an approved promotion started",
    "promotion.applied": "An approved promotion moved the alias in MLflow",
    "promotion.failed": "Applying an approved promotion failed",
    "promotion.retried": "A failed promotion was queued to be applied again",
    "drift.detected": "An alias was found moved outside mlgov (no approved promotion)",
    "drift.cleared": "An alias drift cleared: MLflow matches the approved version again",
    "drift.accepted": "A manager accepted an alias drift as the new approved state",
    "drift.reverted": "An alias drift was reverted to the approved version",
    "drift.superseded": "An open drift finding was replaced by a later one",
    "webhookendpoint.created": "An outbound webhook endpoint was added",
    "webhookendpoint.updated": "An outbound webhook endpoint was changed",
    "webhookendpoint.deleted": "An outbound webhook endpoint was removed",
}

# Events sent to outbound webhooks (and named in their X-Mlgov-Event header).
EVENTS = (
    "promotion.requested",
    "promotion.approved",
    "promotion.rejected",
    "promotion.cancelled",
    "promotion.expired",
    "promotion.applied",
    "promotion.failed",
    "drift.detected",
    "drift.reverted",
)

SIGNATURE_HEADER = "X-Mlgov-Signature-256"
DELIVERY_HEADER = "X-Mlgov-Delivery"
EVENT_HEADER = "X-Mlgov-Event"
