"""dockyard.runtime — see DESIGN.md's layer table."""
