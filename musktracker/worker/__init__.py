"""Recurring work: jobs, their schedule, and two ways to run it (Celery with Redis, or one
local process with `musktracker run`)."""
