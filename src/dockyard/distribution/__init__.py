"""dockyard.distribution — see DESIGN.md's layer table."""
