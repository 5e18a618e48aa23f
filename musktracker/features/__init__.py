"""From posts to model inputs: time buckets, counting rules and features."""
