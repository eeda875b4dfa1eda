"""Where the bytes of uploaded files live: ``storages["dcifiles"]`` (SPEC §6).

``settings.STORAGES["dcifiles"]`` picks the backend: the local filesystem under
``DCI_FILES_ROOT`` by default, an S3-compatible object store (django-storages) with
``DCI_FILES_STORAGE=s3``. The app only speaks Django's storage API, so it does not
know which; objects are named by ``File.storage_name`` (the file id), never by the
client's file name.
"""

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.utils.functional import cached_property


class FilesRootStorage(FileSystemStorage):
    """The local filesystem under ``settings.DCI_FILES_ROOT``.

    The root is read from the setting rather than frozen into ``STORAGES`` so that
    overriding ``DCI_FILES_ROOT`` (as the tests do, with a temporary directory) moves it.
    """

    @cached_property
    def base_location(self):
        return self._value_or_setting(self._location, settings.DCI_FILES_ROOT)

    def _clear_cached_properties(self, setting, **kwargs):
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "DCI_FILES_ROOT":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)


def files_storage():
    return storages["dcifiles"]
