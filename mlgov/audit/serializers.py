from rest_framework import serializers

from mlgov.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "seq",
            "timestamp",
            "actor_id",
            "actor_name",
            "source",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "before",
            "after",
            "request_id",
            "prev_hash",
            "hash",
        )
        read_only_fields = fields
