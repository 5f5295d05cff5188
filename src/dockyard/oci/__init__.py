"""dockyard.oci — see DESIGN.md's layer table."""
