"""dockyard.cli — see DESIGN.md's layer table."""
