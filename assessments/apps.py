from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "assessments"
    label = "assessments"
    verbose_name = "Maturity assessments"
