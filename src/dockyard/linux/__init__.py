"""dockyard.linux — see DESIGN.md's layer table."""
