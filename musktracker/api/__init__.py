"""The REST API: FastAPI app factory, middleware, authentication and routers per area."""
