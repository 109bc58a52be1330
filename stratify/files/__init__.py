"""Files the pipeline writes: durable writes and digests, and owner/group-only modes set by descriptor whatever the umask."""
