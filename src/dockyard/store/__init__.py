"""dockyard.store — see DESIGN.md's layer table."""
