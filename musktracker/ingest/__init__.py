"""Getting posts in: archive files, the X API v2, the filtered stream."""
