"""Honest measures of the lists: who gets listed (selection rates) and what the teams' work changed (impact)."""

IMPACT_FILE = "impact.json"  # in each published run folder (contract: Published lists)
