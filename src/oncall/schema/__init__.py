"""Schema verification: the schema the migrations expect against the live catalog, read-only.

expect    replay the migrations' DDL into an Expectation (pglast)
cache     that expectation, cached per set of files
catalog   what the database has (pg_catalog)
verify    compare the two: `verify(target, url)` -> VerifyResult
report    the table a person reads
"""

from oncall.schema.verify import VerifyResult, VerifyRow

__all__ = ["VerifyResult", "VerifyRow"]
