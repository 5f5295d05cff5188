"""dockyard.engine — see DESIGN.md's layer table."""
