from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from dciserver.metrics import register_collector
        from jobs.metrics import JobsCollector

        register_collector(JobsCollector())
