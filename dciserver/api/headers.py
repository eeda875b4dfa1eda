"""Reading request headers as their senders wrote them."""


def header_text(request, name, default=None):
    """The value of header ``name``: decoded as UTF-8 where its bytes are UTF-8, else as Latin-1.

    WSGI hands header values over decoded as Latin-1 (PEP 3333), so a ``DCI-NAME: é.txt`` that a
    client sent in UTF-8, as every client does, arrives as ``Ã©.txt``. Its bytes are recovered and
    decoded again; bytes that are not UTF-8 keep their Latin-1 reading.
    """
    value = request.headers.get(name)
    if value is None:
        return default
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not Latin-1 text (already decoded), or bytes that are not UTF-8
        return value
