"""Fast inserts of many rows: COPY on PostgreSQL, bulk_create elsewhere."""

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

# Built-in fields whose values, as full_clean leaves them (str, int, bool, Decimal, date, aware
# datetime), COPY takes as they are: their get_db_prep_save only re-checks such a value, at a
# cost that adds up to seconds over 100,000s of rows. Matched by exact type: a subclass (an
# encrypted text field, say) may convert its values.
_AS_IS_FIELDS = frozenset({
    models.AutoField, models.BigAutoField, models.SmallAutoField, models.BooleanField,
    models.CharField, models.TextField, models.DecimalField, models.DateField,
    models.DateTimeField, models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
    models.PositiveIntegerField, models.PositiveBigIntegerField, models.PositiveSmallIntegerField,
})


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """Take `count` ids from the table's identity sequence (PostgreSQL)."""
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        # One row holding every id; the sequence is looked up once, not once per id.
        cursor.execute(
            "SELECT array(SELECT nextval(s.seq) FROM generate_series(1, %s)) "
            "FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) AS s",
            [count, table, column],
        )
        return cursor.fetchone()[0]


@contextlib.contextmanager
def copy_writer(model: type[models.Model], columns: Sequence[str]) -> Iterator[Callable[[tuple], None]]:
    """COPY into `columns` (names of database columns) of the model's table (PostgreSQL).

    Yields a function that takes one row, a tuple of values in database form. Rows travel in
    batches as they are written, so PostgreSQL stores one batch while the caller computes the
    next; the statement ends when the block does.
    """
    qn = connection.ops.quote_name
    names = ", ".join(qn(column) for column in columns)
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {qn(model._meta.db_table)} ({names}) FROM STDIN") as copy:
            yield copy.write_row


def copy_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """COPY rows (tuples in database form) into `columns` of the model's table; returns the count."""
    count = 0
    with copy_writer(model, columns) as write:
        for row in rows:
            write(row)
            count += 1
    return count


def _is_as_is(field: models.Field) -> bool:
    if type(field) is models.ForeignKey:
        return type(field.target_field) in _AS_IS_FIELDS
    return type(field) in _AS_IS_FIELDS


@contextlib.contextmanager
def row_writer(model: type[models.Model], columns: Sequence[str]) -> Iterator[Callable[[tuple], None]]:
    """Insert rows of plain values into `columns` (attnames that are also column names).

    Yields write(row). On PostgreSQL the rows stream through COPY as they are written, so the
    database stores one batch while the caller computes the next; elsewhere they are kept and
    go in with bulk_create at the end of the block.
    """
    if connection.vendor == "postgresql":
        with copy_writer(model, columns) as write:
            yield write
        return
    rows = []
    yield rows.append
    model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=1000)


@contextlib.contextmanager
def row_inserter(model: type[models.Model], count: int) -> Iterator[Callable[[Sequence], int]]:
    """Insert up to `count` new rows of plain values, one per concrete field in the model's order.

    Yields insert(row) -> the row's new id (a primary key in the row is ignored); the rows are
    stored by the end of the block. Values of built-in fields are stored as they are (give what
    full_clean would leave, or database text such as a moment's ISO form); other fields convert
    theirs as Model.save() does (encrypted fields are encrypted). On PostgreSQL the ids come
    from the sequence up front and the rows go in one COPY; elsewhere each row is one INSERT.
    """
    meta = model._meta
    fields = meta.concrete_fields
    pk_index = fields.index(meta.pk)
    if connection.vendor != "postgresql":
        def insert_one(row: Sequence) -> int:
            obj = model(*row)
            obj.pk = None
            model.objects.bulk_create([obj])
            return obj.pk

        yield insert_one
        return
    ids = iter(reserve_ids(model, count))
    rows = []

    def insert(row: Sequence) -> int:
        pk = next(ids)
        rows.append((row, pk))
        return pk

    yield insert
    # get_db_prep_save needs the connection itself: the `connection` proxy costs a lookup per use.
    db = connections[DEFAULT_DB_ALIAS]
    converted = [(index, field) for index, field in enumerate(fields) if not _is_as_is(field)]

    def database_row(row: Sequence, pk: int) -> list:
        values = list(row)
        values[pk_index] = pk
        for index, field in converted:
            values[index] = field.get_db_prep_save(values[index], db)
        return values

    copy_rows(model, [f.column for f in fields], (database_row(row, pk) for row, pk in rows))


def bulk_update(objs: list[models.Model], fields: list[str]) -> int:
    """Write `fields` of many objects in one statement: UPDATE ... FROM unnest(arrays) on PostgreSQL.

    Django's bulk_update builds a CASE per field and row, which costs more to compile than to run;
    here each column travels as one array parameter, whatever the number of rows.
    """
    if not objs:
        return 0
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model.objects.bulk_update(objs, fields, batch_size=500)
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in [pk, *columns])
    names = ", ".join(qn(f.column) for f in [pk, *columns])
    sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in columns)
    params = [[obj.pk for obj in objs]]
    params += [[f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objs] for f in columns]
    # Identifiers come from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET {sets} FROM unnest({arrays}) AS v({names}) "  # noqa: S608
        f"WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
