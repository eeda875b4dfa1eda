from rest_framework.routers import SimpleRouter


class DCIRouter(SimpleRouter):
    """Every DCI route answers with or without a trailing slash, without redirects."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
