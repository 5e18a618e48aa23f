"""Volume models behind one interface (base.py), by name in registry.py."""
