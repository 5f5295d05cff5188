"""dockyard.build — see DESIGN.md's layer table."""
