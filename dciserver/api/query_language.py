"""The ``query=`` language of every list (SPEC §14; reference §8.2), read into one ``Q``.

::

    query  := term ("," term)*                 # the top-level list: AND of every term
    term   := LOGIC "(" term ("," term)* ")"    # and, or, not (not takes one term)
            | BIN "(" field "," value ")"       # eq ne lt le gt ge like ilike contains not_contains
            | "null(" field ")"
    field  := [A-Za-z0-9_]+                    # a key of the resource's FilterSet
    value  := [A-Za-z0-9_\\- %.:/]+             # spaces inside allowed; none at either end

The fields are the resource's ``where`` keys (its FilterSet's filters): a filter says which column
a key reads and turns a wire value into the column's type, so both languages read a key alike.
The whole input must parse: the 2025 server ignored what followed its first term, and with it
the rest of the top-level list that ``dci-diff-jobs`` sends meaning AND.
"""

import re

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import CharField, Lookup, Q, TextField

from dciserver.api.exceptions import BadRequest
from dciserver.api.filters import TEXT_FIELDS

# Deep enough for any query a person writes; bounds the parser's recursion, whatever is sent.
MAX_DEPTH = 32
# Conditions of one query: each is a parameter or two of the statement, and PostgreSQL takes at
# most 65535; a request line (8000 characters) holds fewer, but the parser does not rely on it.
MAX_CONDITIONS = 256

LOGIC = ("and", "or", "not")
COMPARISONS = {"eq": "exact", "lt": "lt", "le": "lte", "gt": "gt", "ge": "gte"}
PATTERNS = {"like": "dci_like", "ilike": "dci_ilike"}
BINARY = ("eq", "ne", "lt", "le", "gt", "ge", "like", "ilike", "contains", "not_contains")
OPERATORS = (*LOGIC, *BINARY, "null")

NAME = re.compile(r"[A-Za-z0-9_]+")
VALUE = re.compile(r"[A-Za-z0-9_\- %.:/]+")
SPACE = re.compile(r" *")


class PatternLookup(Lookup):
    """``like``/``ilike``: the value is the client's SQL pattern, ``%`` and ``_`` its wildcards (Django's
    own ``contains`` and ``startswith`` escape them), and always a parameter of the statement."""

    operator = None

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} {self.operator} {rhs}", (*lhs_params, *rhs_params)


class Like(PatternLookup):
    lookup_name = "dci_like"
    operator = "LIKE"


class ILike(PatternLookup):
    lookup_name = "dci_ilike"
    operator = "ILIKE"


for _text_field in (CharField, TextField):
    _text_field.register_lookup(Like)
    _text_field.register_lookup(ILike)


def _invalid(message, detail):
    return BadRequest(message, {"errors": {"query": [detail]}})


class _Parser:
    """A recursive descent over the query, building the ``Q`` as it reads (the first problem in
    reading order is the one the 400 names)."""

    def __init__(self, text, filterset_class):
        self.text, self.position, self.depth, self.conditions = text, 0, 0, 0
        self.filters = filterset_class.base_filters
        self.model = filterset_class._meta.model

    # Reading ------------------------------------------------------------------

    def skip_space(self):
        self.position = SPACE.match(self.text, self.position).end()

    def found(self):
        return repr(self.text[self.position : self.position + 20]) if self.position < len(self.text) else "the end"

    def expected(self, what, why=""):
        where = f"at position {self.position}: expected {what}, found {self.found()}"
        return _invalid(f"Invalid query {where}{why}", f"Position {self.position}: expected {what}{why}.")

    def read(self, pattern, what):
        self.skip_space()
        match = pattern.match(self.text, self.position)
        if match is None:
            raise self.expected(what)
        self.position = match.end()
        return match.group()

    def punctuation(self, char, why=""):
        self.skip_space()
        if not self.text.startswith(char, self.position):
            raise self.expected(repr(char), why)
        self.position += 1

    def query(self):
        terms = [self.term()]
        self.skip_space()
        while self.text.startswith(",", self.position):
            self.position += 1
            terms.append(self.term())
            self.skip_space()
        if self.position < len(self.text):
            raise self.expected("',' or the end")
        return Q(*terms)

    def term(self):
        self.skip_space()
        start = self.position
        name = self.read(NAME, "an operator")
        if name not in OPERATORS:
            raise _invalid(
                f"Invalid query at position {start}: unknown operator {name!r}",
                f"Position {start}: unknown operator {name!r}; operators are {', '.join(OPERATORS)}.",
            )
        self.punctuation("(")
        if name in LOGIC:
            return self.logic(name, start)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _invalid(
                f"Invalid query at position {start}: more than {MAX_CONDITIONS} conditions",
                f"Position {start}: at most {MAX_CONDITIONS} conditions.",
            )
        field = self.read(NAME, "a field")
        if name == "null":
            q = self.null(field)
        else:
            self.punctuation(",")
            value = self.read(VALUE, "a value").rstrip(" ")
            q = self.binary(name, field, value)
        self.punctuation(")")
        return q

    def logic(self, name, start):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _invalid(
                f"Invalid query at position {start}: nested deeper than {MAX_DEPTH}",
                f"Position {start}: at most {MAX_DEPTH} nested and/or/not.",
            )
        operands = [self.term()]
        if name == "not":
            self.punctuation(")", " (not takes one operand)")
        else:
            self.skip_space()
            while self.text.startswith(",", self.position):
                self.position += 1
                operands.append(self.term())
                self.skip_space()
            self.punctuation(")")
        self.depth -= 1
        if name == "not":
            return ~operands[0]
        return Q(*operands, _connector=Q.OR if name == "or" else Q.AND)

    # Conditions ---------------------------------------------------------------

    def where_filter(self, field):
        if field not in self.filters:
            raise BadRequest(
                f"Invalid field: {field}",
                {"errors": {"query": [f"Unknown field {field!r}."]}, "valid_keys": sorted(self.filters)},
            )
        return self.filters[field]

    def kind(self, where_filter):
        """``array`` (tags), ``text`` or ``other``: which operators a column takes."""
        try:
            column = self.model._meta.get_field(where_filter.field_name)
        except FieldDoesNotExist:
            column = None
        if isinstance(column, ArrayField):
            return "array"
        return "text" if where_filter.model_field.get_internal_type() in TEXT_FIELDS else "other"

    def refuse(self, operator, field, kind):
        takes = {"array": "contains, not_contains and null", "other": "eq, ne, lt, le, gt, ge and null"}[kind]
        return _invalid(f"Invalid query: {operator} does not apply to {field!r}", f"{field}: takes {takes}.")

    def typed(self, where_filter, field, value):
        try:
            return where_filter.typed(where_filter.column_value(value))
        except ValidationError as exc:
            raise _invalid(f"Invalid query value for {field!r}: {value!r}", f"{field}: {exc.messages[0]}") from None

    def binary(self, operator, field, value):
        where_filter = self.where_filter(field)
        kind = self.kind(where_filter)
        column = where_filter.field_name
        if operator in ("contains", "not_contains"):
            if kind == "other":
                raise self.refuse(operator, field, kind)
            operand = self.typed(where_filter, field, value)
            # An array holds the value; a text has it as a substring.
            q = Q((f"{column}__contains", [operand] if kind == "array" else operand))
            return ~q if operator == "not_contains" else q
        if kind == "array" or (operator in PATTERNS and kind != "text"):
            raise self.refuse(operator, field, kind)
        operand = self.typed(where_filter, field, value)
        if operator == "ne":
            return ~Q((column, operand))
        return Q((f"{column}__{COMPARISONS.get(operator) or PATTERNS[operator]}", operand))

    def null(self, field):
        where_filter = self.where_filter(field)
        kind, column = self.kind(where_filter), where_filter.field_name
        q = Q((f"{column}__isnull", True))
        # A text's blank (and an array's empty list) is no value either, as in the 2025 server.
        if kind == "text":
            q |= Q((column, ""))
        elif kind == "array":
            q |= Q((column, []))
        return q


def parse_query(raw, filterset_class):
    """``query=and(eq(status,success),not(null(comment)))`` → the ``Q`` of the rows it names among
    the model of ``filterset_class`` (the resource's FilterSet, whose keys are its fields); ``None``
    for no query. Any problem with it is a ``BadRequest`` naming it."""
    if raw is None or not raw.strip(" "):
        return None
    return _Parser(raw, filterset_class).query()
