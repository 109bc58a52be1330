"""Great Expectations for one validation stage: an ephemeral context, the suites, runs on the work table, Data Docs.

Suites run on GX's SQL engine over DuckDB (`stratify.validate.gx_duckdb`),
in-database, on the work table of the warehouse connection, in GX's BASIC
result format without samples, so no delivered value reaches the warehouse,
the reasons or the Data Docs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx

from stratify.validate import gx_duckdb
from stratify.validate.workspace import WORK_CATALOG, WORK_TABLE

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0, "include_unexpected_rows": False}
DATA_DOCS_SITE = "stratify_run"


class GXRunner:
    """One ephemeral GX context for a validation stage, with a local Data Docs site.

    Suites run on GX's SQL engine over DuckDB (see `stratify.validate.gx_duckdb`),
    in-database, on the work table of the warehouse connection.
    """

    def __init__(self, suites: dict[str, dict], docs_dir: Path):
        from great_expectations.data_context.types.base import ProgressBarsConfig

        gx_duckdb.install()
        self.context = gx.get_context(mode="ephemeral")
        try:
            self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        except Exception:  # progress bars are cosmetic
            pass
        self.docs_dir = docs_dir
        from stratify.validate.data_docs import site_views  # GX's views, compiling each template once

        self.context.add_data_docs_site(site_name=DATA_DOCS_SITE, site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            **site_views(),
        })
        self.suites = suites
        self.gx_suites: dict[str, Any] = {}
        self.ran = 0

    def suite(self, source: str):
        if source not in self.gx_suites:
            d = dict(self.suites[source])
            suite = gx.ExpectationSuite(name=d["name"], expectations=d["expectations"], meta=d.get("meta"))
            self.gx_suites[source] = self.context.suites.add(suite)
        return self.gx_suites[source]

    def partial_suite(self, source: str, delivery_id: int, left_out: set[str]):
        """The source's suite without the expectations in `left_out` (their columns are missing)."""
        d = self.suites[source]
        return self.context.suites.add(gx.ExpectationSuite(
            name=f"{d['name']}_without_missing_columns_{delivery_id}", meta=d.get("meta"),
            expectations=[e for e in d["expectations"] if e["meta"]["id"] not in left_out]))

    def run(self, con: duckdb.DuckDBPyConnection, source: str, delivery_id: int, params: dict, run_name: str,
            left_out: set[str] = frozenset()):
        """Validate the work table with the source's suite; GX's connection is closed again on return.

        GX's SQL engine computes a domain's metrics in one query, so one
        expectation on a column that is not there would make every other one
        error: those in `left_out` are not run (the caller records them as not
        evaluated), the rest of the versioned suite is.
        """
        from great_expectations.core.run_identifier import RunIdentifier

        suite = self.partial_suite(source, delivery_id, left_out) if left_out else self.suite(source)
        ds = gx_duckdb.duckdb_datasource(self.context, f"delivery_{delivery_id}", con, catalog=WORK_CATALOG)
        try:
            batch = ds.add_table_asset(source, table_name=WORK_TABLE.split(".", 1)[1]).add_batch_definition_whole_table(
                f"{source}_delivery")
            validation = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{source}_contract_v1_{delivery_id}", data=batch, suite=suite))
            self.ran += 1
            return validation.run(
                expectation_parameters=params, result_format=RESULT_FORMAT,
                run_id=RunIdentifier(run_name=run_name, run_time=datetime.now(UTC)),
            )
        finally:
            gx_duckdb.close_datasource(self.context, ds)

    def build_docs(self) -> Path | None:
        if not self.ran:
            return None
        self.context.build_data_docs(site_names=[DATA_DOCS_SITE])
        from stratify.validate.data_docs import make_offline  # no CDN scripts/styles, owner/group-only modes
        from stratify.validate.suites import derived_columns

        make_offline(self.docs_dir, derived=derived_columns())
        return self.docs_dir / "index.html"
