"""The warehouse API in one import, for callers written before it was split by job.

- `connect`: open the place's warehouse (`stratify.warehouse.connect`);
- `migrate`: apply the DDL in `warehouse/` (`stratify.warehouse.migrate`);
- `run_sql_file`, `run_sql`, `fetch_one`, `transaction`: run SQL with bound parameters (`stratify.warehouse.sql`);
- `quote_identifier`, `render_identifier`: the one way a name reaches SQL text (`stratify.warehouse.identifiers`).

New code imports from those modules (or from here); nothing is defined in this module.
"""

from stratify.errors import WarehouseDamaged, WarehouseError, WarehouseLocked
from stratify.resources import DDL_DIR, FEATURES_DIR, PROJECT_ROOT, SQL_DIR
from stratify.warehouse.connect import ENCRYPTED_ALIAS, connect, damaged_message, is_corrupt, is_locked, open_error
from stratify.warehouse.identifiers import IDENTIFIER_RE, quote_identifier, render_identifier
from stratify.warehouse.migrate import migrate
from stratify.warehouse.sql import fetch_one, read_sql, run_sql, run_sql_file, split_statements, transaction

__all__ = [
    "DDL_DIR", "ENCRYPTED_ALIAS", "FEATURES_DIR", "IDENTIFIER_RE", "PROJECT_ROOT", "SQL_DIR", "WarehouseDamaged",
    "WarehouseError", "WarehouseLocked", "connect", "damaged_message", "fetch_one", "is_corrupt", "is_locked",
    "migrate", "open_error", "quote_identifier", "read_sql", "render_identifier", "run_sql", "run_sql_file",
    "split_statements", "transaction",
]
