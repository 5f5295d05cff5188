"""dockyard.cgroups — see DESIGN.md's layer table."""
