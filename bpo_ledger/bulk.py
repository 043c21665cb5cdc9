"""Fast inserts of many model objects: COPY on PostgreSQL, bulk_create elsewhere."""

from django.db import connection, models


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """Take `count` ids from the table's identity sequence (PostgreSQL)."""
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def bulk_insert(objs: list[models.Model], *, need_ids: bool = False) -> int:
    """Insert unsaved objects of one model; with need_ids each gets its primary key.

    Values go through each field's pre_save and get_db_prep_save, as Model.save() does, so
    auto_now dates are set and encrypted fields are encrypted.
    """
    if not objs:
        return 0
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=1000)
        return len(objs)
    fields = [f for f in model._meta.concrete_fields if need_ids or not f.primary_key]
    if need_ids:
        for obj, pk in zip(objs, reserve_ids(model, len(objs)), strict=True):
            obj.pk = pk
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row(tuple(f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields))
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return len(objs)


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
