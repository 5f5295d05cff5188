"""dockyard.network — see DESIGN.md's layer table."""
