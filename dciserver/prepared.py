"""The statements dciserver builds once and runs on every request, prepared once per connection.

PostgreSQL plans a statement every time it receives its text. For a page of jobs with three
embeds, planning cost the database as much CPU as running it (about 1 ms each on the bench
machine), and the database shares the machine's cores with the workers. A statement built once
by dciserver (a page of a resource, a row by id, the jobs count, the hot inserts) is instead
``PREPARE``d the first time a connection runs it, then ``EXECUTE``d: PostgreSQL keeps the parsed
statement and, after five runs, a generic plan wherever that costs no more than planning anew
(``plan_cache_mode``). Plans are replanned by PostgreSQL itself when a table or index changes.

Each connection keeps at most ``MAX_STATEMENTS`` (least recently used are ``DEALLOCATE``d: a
list's ``LIMIT``/``OFFSET`` are part of the text). A statement whose parameter types PostgreSQL
can't infer is run as plain text from then on. Prepared statements belong to the database
session: they need a direct connection or a pooler in session mode (not transaction pooling).
"""

import itertools
import re
from collections import OrderedDict

from django.db import DatabaseError

MAX_STATEMENTS = 200

_names = itertools.count()
_PLACEHOLDER = re.compile(r"%%|%s")
# Run as text: PostgreSQL could not prepare it; seen once, not prepared yet.
_TEXT, _SEEN = "", "?"


def _numbered(sql):
    """``sql`` with psycopg2's ``%s`` placeholders as ``$1, $2, ...`` (and ``%%`` as ``%``)."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda match: "%" if match.group() == "%%" else f"${next(numbers)}", sql)


def _statements(db):
    """This connection's ``{sql: name}``, new whenever Django opened a new database session."""
    held = getattr(db, "_dci_prepared", None)
    if held is None or held[0] is not db.connection:
        held = db._dci_prepared = (db.connection, OrderedDict())
    return held[1]


def execute(cursor, sql, params=()):
    """``cursor.execute(sql, params)`` (a Django cursor, positional ``%s`` parameters), by this
    connection's prepared statement of ``sql`` from the second time the connection runs it
    (a statement run once, such as a page at an unusual offset, costs nothing more)."""
    db = cursor.db
    db.ensure_connection()
    statements = _statements(db)
    name = statements.get(sql)
    if name is None:
        _remember(cursor, statements, sql, _SEEN)
        name = _TEXT
    elif name == _SEEN:
        name = _prepare(cursor, statements, sql)
    else:
        statements.move_to_end(sql)
    if name == _TEXT:
        return cursor.execute(sql, params)
    try:
        if params:
            return cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)
        return cursor.execute(f"EXECUTE {name}")
    except DatabaseError as error:
        if getattr(error.__cause__, "pgcode", None) != "26000":
            raise
        # The session lost its statements (``DEALLOCATE ALL``, ``DISCARD ALL``): start again,
        # and run this one as text where no transaction was aborted by the failure.
        statements.clear()
        if db.in_atomic_block:
            raise
        return cursor.execute(sql, params)


def _remember(cursor, statements, sql, name):
    statements.pop(sql, None)
    while len(statements) >= MAX_STATEMENTS:
        text, oldest = statements.popitem(last=False)
        if oldest in (_TEXT, _SEEN):
            continue
        try:
            with cursor.db.wrap_database_errors:
                cursor.cursor.execute(f"DEALLOCATE {oldest}")
        except DatabaseError:
            # An aborted transaction: the statement stays known, to be deallocated later.
            statements[text] = oldest
            statements.move_to_end(text, last=False)
            raise
    statements[sql] = name


def _prepare(cursor, statements, sql):
    """Prepare ``sql`` on the connection: its name, or ``_TEXT`` where PostgreSQL can't.

    By the driver's own cursor: a statement's preparation is not one of the request's queries
    (Django's query log and execute wrappers see the ``EXECUTE``). Errors other than
    PostgreSQL refusing the statement (the connection lost) are raised as Django's."""
    db = cursor.db
    numbered = _numbered(sql)
    name = f"dci_{next(_names)}"
    raw = cursor.cursor
    # Inside a transaction, a refused statement must not abort the caller's transaction.
    savepoint = name if db.in_atomic_block else None
    with db.wrap_database_errors:
        if savepoint:
            raw.execute(f"SAVEPOINT {savepoint}")
        try:
            raw.execute(f"PREPARE {name} AS {numbered}")
        except (db.Database.ProgrammingError, db.Database.DataError, db.Database.NotSupportedError):
            if savepoint:
                raw.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
            name = _TEXT
        if savepoint:
            raw.execute(f"RELEASE SAVEPOINT {savepoint}")
    _remember(cursor, statements, sql, name)
    return name


def original(db, sql):
    """The text of the statement an ``EXECUTE dci_N(...)`` run on connection ``db`` stands for
    (``sql`` itself if it is not one): what a captured query log shows, for tests and debugging."""
    if not sql.startswith("EXECUTE dci_"):
        return sql
    name = sql.split()[1].split("(")[0]
    return next((text for text, held in _statements(db).items() if held == name), sql)
