"""Link the register into `persons`: who is known, alive, not opted out, and in which team.

People with the national data opt-out are dropped here, before any linking
or scoring, and appear only in counts. Events whose pseudonym matches no
registered person are counted, never listed.
"""

from __future__ import annotations

import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.context import RunContext
from stratify.stages import write_stage_summary
from stratify.warehouse import SQL_DIR, connect, fetch_one, run_sql_file


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
        counts = fetch_one(con, 
            """
            WITH known AS (
                SELECT person_id, opted_out FROM raw_register
                WHERE delivered_on <= $as_of AND (superseded_on IS NULL OR superseded_on > $as_of)
                QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY delivered_on DESC, delivery_id DESC) = 1
            )
            SELECT
                (SELECT count(*) FROM known) AS registered,
                (SELECT count(*) FILTER (WHERE opted_out) FROM known) AS opted_out,
                (SELECT count(*) FROM persons WHERE died) AS died,
                (SELECT count(*) FROM persons WHERE team IS NULL) AS no_team,
                (SELECT count(*) FROM persons WHERE NOT died AND team IS NOT NULL) AS listable
            """,
            {"as_of": ctx.as_of},
        )
        con.commit()
    summary = dict(zip(("registered", "opted_out", "died", "no_team", "listable"), counts))
    write_stage_summary(cfg, ctx, "link", summary)
    return summary
