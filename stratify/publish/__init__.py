"""The publish stage: render the `lists` table into CSVs, workbooks, team pages, the overview and the IG page, suppress small numbers, and switch `latest`."""
