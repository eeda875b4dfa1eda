from django.contrib.auth.backends import ModelBackend


class NameBackend(ModelBackend):
    """Log in by ``name``; archived or inactive users cannot log in."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        name = username if username is not None else kwargs.get("name")
        if name is not None and "\x00" in name:
            # No user can have such a name, and PostgreSQL refuses to even compare it.
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def user_can_authenticate(self, user):
        return user.is_active

    def get_user(self, user_id):
        from teams.models import User

        user = User.objects.live().select_related("team").filter(pk=user_id).first()
        return user if user and self.user_can_authenticate(user) else None
