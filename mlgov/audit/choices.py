from django.db import models


class Source(models.TextChoices):
    WEB = "web", "Web page"
    API = "api", "API"
    SYNC = "sync", "Sync"
    TASK = "task", "Task"
    CLI = "cli", "Command line"
