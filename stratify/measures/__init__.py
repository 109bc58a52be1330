"""Honest measures of the lists: who gets listed (selection rates), what the teams' work changed (impact), how good past lists were, and drift."""

IMPACT_FILE = "impact.json"  # in each published run folder (contract: Published lists)
