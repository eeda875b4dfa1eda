from django.contrib.auth.backends import ModelBackend


class NameBackend(ModelBackend):
    """Log in by ``name``; archived or inactive users cannot log in."""

    def user_can_authenticate(self, user):
        return user.is_active

    def get_user(self, user_id):
        from teams.models import User

        user = User.objects.live().select_related("team").filter(pk=user_id).first()
        return user if user and self.user_can_authenticate(user) else None
