"""Getting a list out of the pipeline, audited: export a team's published list, re-identify the people on a published
list; and the night's `app_access` stage (`app_log`), which copies the web app's audit rows into `access_log`."""
