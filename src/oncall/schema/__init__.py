"""Schema verification: the schema the migrations expect against the live catalog, read-only.

shadow    the applied files replayed into a shadow database, its catalog cached per set of files
snapshot  the catalog reader, the same for the shadow and the live database (every object kind)
diff      catalog against catalog: one VerifyRow per object
expect    the static model (pglast), used only when no shadow can be had
static    that model checked against the catalog
cache     that expectation, cached per set of files
catalog   the live catalog as the static model reads it
verify    `verify(target, url)` -> VerifyResult
result    VerifyRow and the result words
report    what a person reads: failures, warnings and one verdict line
"""

from oncall.schema.result import VerifyRow
from oncall.schema.verify import VerifyResult

__all__ = ["VerifyResult", "VerifyRow"]
