"""Honest measures of the lists: who gets listed (selection rates) and what the teams' work changed (impact)."""
