"""The costs stage: the unit-cost table (default from the GMCA Unit Cost Database v1.4), each person's, household's and team's public cost, and handoffs."""
