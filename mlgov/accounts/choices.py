from django.db import models


class TeamRole(models.TextChoices):
    MEMBER = "member", "Member"
    MAINTAINER = "maintainer", "Maintainer"


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"
