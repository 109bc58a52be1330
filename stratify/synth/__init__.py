"""The embedded default place: a synthetic population, its deliveries written to the contract, and the answer key the pipeline never reads."""
