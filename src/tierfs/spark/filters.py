"""Spark's pushed filters as pyarrow expressions, used to skip Parquet row groups by statistics.

Only filters whose pyarrow meaning matches Spark's for skipping are translated; the
others are left to Spark alone. Spark evaluates every filter on the rows again, so a
translated filter can only ever skip row groups that hold no matching row.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

import pyarrow.compute as pc
from pyspark.sql.datasource import (
    EqualTo,
    Filter,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNotNull,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Not,
)

_COMPARISONS = {
    EqualTo: operator.eq,
    GreaterThan: operator.gt,
    GreaterThanOrEqual: operator.ge,
    LessThan: operator.lt,
    LessThanOrEqual: operator.le,
}


def to_expression(spark_filter: Filter, columns: set[str]) -> pc.Expression | None:
    """The pyarrow expression of ``spark_filter``, or None if it has no faithful one."""
    if isinstance(spark_filter, Not):
        child = to_expression(spark_filter.child, columns)
        return None if child is None else ~child
    attribute = spark_filter.attribute
    if len(attribute) != 1 or attribute[0] not in columns:
        return None  # nested fields and unknown columns are Spark's business
    column = pc.field(attribute[0])
    compare = _COMPARISONS.get(type(spark_filter))
    if compare is not None:
        return None if spark_filter.value is None else compare(column, spark_filter.value)
    if isinstance(spark_filter, In):
        values = [value for value in spark_filter.value if value is not None]
        return column.isin(values) if values else None
    if isinstance(spark_filter, IsNull):
        return column.is_null()
    if isinstance(spark_filter, IsNotNull):
        return column.is_valid()
    return None


def conjunction(filters: Iterable[Filter], columns: set[str]) -> pc.Expression | None:
    """The AND of every translatable filter (Spark pushes a conjunction), or None."""
    expressions = [e for e in (to_expression(f, columns) for f in filters) if e is not None]
    if not expressions:
        return None
    combined = expressions[0]
    for expression in expressions[1:]:
        combined = combined & expression
    return combined
