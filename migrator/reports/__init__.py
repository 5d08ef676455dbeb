"""What a state shows a person or a script: status tables (and, later, reports)."""
