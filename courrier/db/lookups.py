"""`field__any_of=[...]`: membership in a list, bound as one array on PostgreSQL.

`field__in=ids` binds one parameter per id. With psycopg's client-side binding
(Django's default) each one is turned into SQL text in Python: for the
worker's batches of a few hundred letters, claimed and read back every
round, that was a tenth of its CPU. `field = ANY(%s)` sends the whole list as
one parameter. Other databases get the same IN (...) as `__in`.
"""

from django.db.models import Lookup


class AnyOf(Lookup):
    """For integer columns (ids): the values are sent as they are, as ints."""

    lookup_name = "any_of"
    prepare_rhs = False  # a list, not one value for the field to prepare

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [int(value) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            return "0 = 1", list(lhs_params)  # nothing is in an empty list
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
