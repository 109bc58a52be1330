"""Getting a list out of the pipeline, audited: export a team's published list, re-identify the people on a published list."""
