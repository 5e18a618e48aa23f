"""Signal sources: everything that produces events, behind one adapter interface."""
