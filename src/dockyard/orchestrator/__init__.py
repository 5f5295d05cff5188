"""dockyard.orchestrator — see DESIGN.md's layer table."""
