"""Statements written by hand for the live room's hot path, and the rows they return
turned into model instances the way Django's own querysets do it.

Django builds its SQL again from the queryset on every call. On these machines building
it costs several times the round trip: `select_for_update().select_related().get()`
takes 2.2 ms of CPU, the same statement written here 0.5 ms; an ORM insert 1.15 ms,
here 0.39 (docs/performance.md, "Statements by hand"). Only the few statements that
every frame or every connect runs are written here; everything else stays a queryset.

Table and column names come from the models, values are always parameters, and values
read pass through the same converters Django applies (so SQLite's `make run` reads the
same Python values as PostgreSQL).
"""

import datetime as dt
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import Model
from django.utils.dateparse import parse_datetime

type Converter = Callable[[Any, Any, Any], Any]


@cache
def columns(model: type[Model], alias: str) -> str:
    """`alias.col, …` for every concrete field, in the order `instance` reads them."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def width(model: type[Model]) -> int:
    """How many values of a row `columns(model, …)` selects."""
    return len(model._meta.concrete_fields)


@cache
def _readers(model: type[Model], vendor: str) -> tuple[list[str], list[list[Converter]]]:
    names, converters = [], []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        names.append(field.attname)
        converters.append(
            connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        )
    return names, converters


def instance[M: Model](model: type[M], row: Sequence[Any], start: int = 0) -> M:
    """The instance that `row[start:]` (selected with `columns(model, …)`) stands for."""
    names, converters = _readers(model, connection.vendor)
    values = list(row[start : start + len(names)])
    for i, field_converters in enumerate(converters):
        for convert in field_converters:
            values[i] = convert(values[i], None, connection)
    return model.from_db(connection.alias, names, values)


def fetch_one(sql: str, params: Sequence[Any] | dict[str, Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row


def fetch_all(sql: str, params: Sequence[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found: list[tuple[Any, ...]] = cursor.fetchall()
        return found


def execute(sql: str, params: Sequence[Any] | dict[str, Any]) -> int:
    """Run a statement; how many rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        changed: int = cursor.rowcount
        return changed


@cache
def _insert_sql(model: type[Model], vendor: str) -> tuple[str, list[Any]]:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    names = ", ".join(f'"{f.column}"' for f in fields)
    slots = ", ".join(["%s"] * len(fields))
    table = model._meta.db_table
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({slots}) RETURNING "{_pk_column(model)}"'  # noqa: S608
    return sql, fields


def _pk_column(model: type[Model]) -> str:
    pk = model._meta.pk
    if pk is None or pk.column is None:
        raise TypeError(f"{model.__name__} has no primary key.")
    return pk.column


def insert[M: Model](obj: M) -> M:
    """Save a new instance with one INSERT … RETURNING, as `Model.objects.create` does
    (values prepared by their fields), without building the statement each time."""
    sql, fields = _insert_sql(type(obj), connection.vendor)
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    row = fetch_one(sql, params)
    if row is None:
        raise DatabaseError(f"INSERT into {type(obj).__name__} returned no row.")
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def read_timestamp(value: Any) -> dt.datetime:
    """read_datetime for a value that is never NULL."""
    read = read_datetime(value)
    if read is None:
        raise ValueError("A timestamp was NULL.")
    return read


def read_datetime(value: Any) -> dt.datetime | None:
    """A timestamp computed in SQL (no column, so no converter): SQLite returns its
    text, stored in UTC; PostgreSQL a datetime already."""
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"Not a timestamp: {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def param(model: type[Model], field: str, value: Any) -> Any:
    """A value as the database takes it for `model.field` (a UUID is text on SQLite)."""
    return model._meta.get_field(field).get_db_prep_value(value, connection, prepared=False)  # type: ignore[union-attr]


def for_update(of: str | None = None) -> str:
    """The row-lock clause this database takes: none on SQLite, which lets one writer
    in at a time already."""
    features = connection.features
    if of and features.has_select_for_update_of:
        return f"FOR UPDATE OF {of}"
    return "FOR UPDATE" if features.has_select_for_update else ""


def get[M: Model](model: type[M], pk: Any) -> M:
    """`model.objects.get(pk=pk)`, by hand."""
    row = fetch_one(_get_sql(model), [pk])
    if row is None:
        raise model.DoesNotExist(f"No {model.__name__} {pk}.")  # type: ignore[attr-defined]
    return instance(model, row)


@cache
def _get_sql(model: type[Model]) -> str:
    table = model._meta.db_table
    return f'SELECT {columns(model, "t")} FROM "{table}" t WHERE t."{_pk_column(model)}" = %s'  # noqa: S608
