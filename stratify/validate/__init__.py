"""The validate stage: Great Expectations suites from the contract, run on DuckDB, the identifier guard, structured findings and offline Data Docs."""
