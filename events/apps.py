from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "events out"

    def ready(self):
        from dciserver.metrics import register_collector
        from events.metrics import EventsCollector

        register_collector(EventsCollector())
