"""The rank stage: each team's ranked list, households together, capacity, the teams' outcomes, change and drop-offs, written to the `lists` table."""
