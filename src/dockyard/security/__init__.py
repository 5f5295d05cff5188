"""dockyard.security — see DESIGN.md's layer table."""
