"""Link the register into `persons`: who is known, alive, not opted out, and in which team.

People with the national data opt-out are dropped here, before any linking
or scoring, and appear only in counts. Events whose pseudonym matches no
registered person are counted, never listed.
"""

from __future__ import annotations

import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.resources import SQL_DIR
from stratify.run.context import RunContext
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.connect import connect
from stratify.warehouse.sql import fetch_one, read_sql, run_sql_file


def link_persons(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Build `persons` as of the run date and count who was left out and why."""
    mapping = cfg.team_for_lsoa()
    neighbourhoods = pa.table({"lsoa21": list(mapping), "team": list(mapping.values())})
    with connect(cfg) as con:
        con.begin()
        con.register("neighbourhoods_in", neighbourhoods)
        con.execute("CREATE OR REPLACE TABLE neighbourhoods AS SELECT * FROM neighbourhoods_in")
        con.unregister("neighbourhoods_in")
        run_sql_file(con, SQL_DIR / "persons.sql", {"as_of": ctx.as_of}, step="link persons")
        counts = fetch_one(con, read_sql(SQL_DIR / "link_counts.sql"))
        con.execute("DROP TABLE temp.main.register_known")
        con.commit()
    summary = dict(zip(("registered", "opted_out", "died", "no_team", "listable"), counts))
    write_stage_summary(cfg, ctx, "link", summary)
    return summary
