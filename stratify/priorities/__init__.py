"""The place's priorities (homelessness, care leavers, frail elderly...): cohort definitions over what the warehouse knows, and who falls under each."""
