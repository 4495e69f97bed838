"""Pure rules of Depot: no I/O, imports nothing of ours but itself."""
