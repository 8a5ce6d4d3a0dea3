import django_filters

from integrations.models import GitRepository


class GitRepositoryFilterSet(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug", label="Project")
    team = django_filters.CharFilter(field_name="project__team__slug", label="Team")
    # A choice rather than BooleanFilter: `enabled=maybe` is a 400, not a silent full list.
    enabled = django_filters.ChoiceFilter(
        choices=[("true", "Yes"), ("false", "No")], method="filter_enabled", label="Enabled"
    )

    class Meta:
        model = GitRepository
        fields = []

    def filter_enabled(self, queryset, name, value):
        return queryset.filter(enabled=value == "true")
