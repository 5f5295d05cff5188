"""dockyard.api — see DESIGN.md's layer table."""
