"""Reasons for a scored person: the features that, against a typical person's, raised their score most."""

from __future__ import annotations

import pandas as pd

from stratify.model.contributions import REASONS_PER_PERSON  # noqa: F401
from stratify.model.contributions import reasons as contribution_reasons
from stratify.model.registry import ModelBundle
from stratify.warehouse.people import query_for_people


def explain(bundle: ModelBundle, rows: pd.DataFrame) -> list[str]:
    """Per-person reasons: the contributions that set each person apart (`stratify.model.contributions`)."""
    return contribution_reasons(bundle, rows)


def load_explain_rows(con, person_ids) -> pd.DataFrame:
    """Whole feature rows (and crisis columns) of these people, in person order: what `explain` describes."""
    return query_for_people(con, person_ids, "list_explain_rows.sql")
