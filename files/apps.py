from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The job's ``files`` embed is declared by files.api (jobs know nothing of files): loaded
        # with the app, not only with the URLs.
        from files import api  # noqa: F401
