"""Many rows in one PostgreSQL statement: each column's values as one array parameter and
the rows as their `unnest`, so an upsert of a whole batch is one statement with one plan,
whatever its count of rows (an executemany is a statement per row; SQLAlchemy's
multi-row VALUES, a plan per count). The rows come in the arrays' order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, Select, Table, bindparam, func, select


def unnested(table: Table, columns: Sequence[str]) -> Select[Any]:
    """SELECT * FROM unnest(:c1, :c2, ...) AS (c1, c2, ...), each parameter an array of
    the column's type: for `insert(table).from_select(columns, ...)`."""
    arrays = [bindparam(c, type_=ARRAY(table.c[c].type)) for c in columns]
    rows = func.unnest(*arrays).table_valued(*columns).render_derived()
    return select(*(rows.c[c] for c in columns))


def as_arrays(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    """The parameters of `unnested`: each column's values, in the rows' order."""
    return {c: [r[c] for r in rows] for c in columns}
