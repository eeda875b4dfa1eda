"""Teams, their users and their remote CI agents."""

import secrets
import string

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from dciserver.models import DCIQuerySet, MutableModel, team_members

ADMIN_TEAM_NAME = "admin"


class Team(MutableModel):
    """A partner lab. Members of the team named ``admin`` are super admins."""

    name = models.CharField(max_length=255)
    # Reaches the topics of its products before they are exported (SPEC §11).
    has_pre_release_access = models.BooleanField(default=False)
    # A partner outside the company running the server, and where it is (the modern DCI's team fields).
    external = models.BooleanField(default=True)
    country = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(archived_at__isnull=True), name="team_name_unique"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """Its members."""
        return team_members(user, "pk")


class UserManager(BaseUserManager.from_queryset(DCIQuerySet)):
    use_in_migrations = True

    def create_user(self, name, password=None, **fields):
        user = self.model(name=name, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, name, password=None, **fields):
        """``manage.py createsuperuser``: a super admin is a member of the ``admin`` team.

        A name a live user has is a ``ValidationError``, which the command reports on one line:
        it checks names itself only where the field is declared unique, and a live name is unique
        by a conditional constraint (an ``IntegrityError`` there printed a whole traceback).
        """
        if self.live().filter(name=name).exists():
            raise ValidationError("Error: That name is already taken.")
        team, _ = Team.objects.live().get_or_create(name=ADMIN_TEAM_NAME)
        fields.setdefault("role", User.Role.ADMIN)
        return self.create_user(name, password, team=team, **fields)

    def get_by_natural_key(self, name):
        return self.live().select_related("team").get(name=name)


class User(AbstractBaseUser, MutableModel):
    """A person or an agent's account. ``name`` is the login."""

    class Role(models.TextChoices):
        USER = "user"
        ADMIN = "admin"

    name = models.CharField(max_length=255)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="users", db_index=False
    )  # user_team_created leads with it
    email = models.EmailField(max_length=255, blank=True, default="")
    fullname = models.CharField(max_length=255, blank=True, default="")

    objects = UserManager()
    # Archiving a team archives its users: they can no longer log in.
    archived_with = ("team",)

    USERNAME_FIELD = "name"
    REQUIRED_FIELDS = []

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(archived_at__isnull=True), name="user_name_unique"),
            models.CheckConstraint(condition=Q(role__in=["user", "admin"]), name="user_role_valid"),
        ]
        indexes = [
            # Team scoping of GET /users and /teams/<id>/users.
            models.Index(fields=["team", "-created_at"], name="user_team_created"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """The members of its team; a user without a team sees only themselves."""
        return Q(pk=user.pk) if user.team_id is None else Q(team=user.team_id)

    @property
    def is_super_admin(self):
        return self.team_id is not None and self.team.name == ADMIN_TEAM_NAME

    @property
    def is_team_admin(self):
        return self.role == self.Role.ADMIN and self.team_id is not None

    @property
    def is_active(self):
        return self.archived_at is None and self.state == self.State.ACTIVE

    # The Django admin is for super admins; they may do everything there.
    @property
    def is_staff(self):
        return self.is_super_admin

    @property
    def is_superuser(self):
        return self.is_super_admin

    def has_perm(self, perm, obj=None):
        return self.is_active and self.is_super_admin

    def has_perms(self, perm_list, obj=None):
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label):
        return self.is_active and self.is_super_admin

    def is_admin_of(self, team_id):
        """Super admins administer every team; a team admin only their own."""
        return self.is_super_admin or (self.is_team_admin and self.team_id == team_id)


SECRET_ALPHABET = string.ascii_letters + string.digits


def new_api_secret():
    """An agent's signing secret: 64 letters and digits from the system's cryptographic source
    (SPEC §10; what the modern DCI server generates, so a lab's tooling keeps its expectations)."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(64))


class RemoteCI(MutableModel):
    """A remote CI agent of a team, asking the server for jobs to run.

    The 2016 boolean ``active`` and ``state`` are one fact, stored once in ``state``.
    """

    name = models.CharField(max_length=255)
    # remoteci_team_created leads with it.
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="remotecis", db_index=False)
    data = models.JSONField(default=dict, blank=True)
    # The modern DCI's flag of a remoteci whose results other teams may be shown (stored, shown).
    public = models.BooleanField(default=False)
    # The key of its HMAC signatures (``remoteci/<id>``): shown to its team and super admins only.
    api_secret = models.CharField(max_length=64, default=new_api_secret, editable=False)

    archived_with = ("team",)

    class Meta:
        verbose_name = "remote CI"
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"], condition=Q(archived_at__isnull=True), name="remoteci_team_name_unique"
            ),
        ]
        indexes = [
            # GET /remotecis for a team user, newest first.
            models.Index(fields=["team", "-created_at"], name="remoteci_team_created"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """The members of its team."""
        return team_members(user, "team")

    @property
    def active(self):
        return self.state == self.State.ACTIVE


class Feeder(MutableModel):
    """An agent feeding the catalogue (SPEC §10): it signs as ``feeder/<id>``, creates and updates
    topics and global components, and runs no jobs."""

    name = models.CharField(max_length=255)
    # feeder_team_created leads with it.
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="feeders", db_index=False)
    data = models.JSONField(default=dict, blank=True)
    # The key of its HMAC signatures (``feeder/<id>``): shown to its team and super admins only.
    api_secret = models.CharField(max_length=64, default=new_api_secret, editable=False)

    archived_with = ("team",)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"], condition=Q(archived_at__isnull=True), name="feeder_team_name_unique"
            ),
        ]
        indexes = [
            # GET /feeders for a team user, newest first.
            models.Index(fields=["team", "-created_at"], name="feeder_team_created"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """The members of its team."""
        return team_members(user, "team")


class Agent:
    """A remoteci or a feeder signing its requests (SPEC §10): the caller, acting inside its team.

    Not a user: never a super admin nor a team admin, whatever its team; its audit entries name
    it (``remoteci/<id>``, ``feeder/<id>``) with no user. Scoping reads ``team_id`` as it does a
    user's. A feeder reads the whole catalogue and writes topics and components only
    (``feeds_catalogue``: the views' ``feeder_writes``); a remoteci runs its team's jobs.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_super_admin = is_team_admin = is_staff = is_superuser = False
    pk = id = None  # no user row: audit entries keep ``user_name`` only
    role = None

    def __init__(self, kind, row):
        self.kind, self.row = kind, row
        self.feeds_catalogue = kind == "feeder"
        # The remoteci a job created by this caller belongs to (SPEC §10: its own, implied).
        self.remoteci = row if kind == "remoteci" else None
        self.team_id, self.team = row.team_id, row.team
        self.name = f"{kind}/{row.id}"
        self.api_secret = row.api_secret

    def is_admin_of(self, team_id):
        return False

    def __str__(self):
        return self.name


# The models whose rows sign requests, by the client type of their credential.
SIGNING_MODELS = {"remoteci": RemoteCI, "feeder": Feeder}


def signing_agent(kind, pk):
    """The active agent ``<kind>/<pk>`` (``DCI_SIGNING_AGENT``), or ``None``: unknown, archived,
    inactive, or its team archived."""
    model = SIGNING_MODELS.get(kind)
    if model is None:
        return None
    row = model.objects.select_by_pk(pk, related="team")
    team = row and row.team
    if (
        row is None
        or row.state != row.State.ACTIVE
        or team is None
        or team.archived_at
        or team.state != team.State.ACTIVE
    ):
        return None
    return Agent(kind, row)
