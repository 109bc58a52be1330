"""A run of one place: the pipeline's stages in order, the run context, its audit rows, lock, status file and stage summaries."""
