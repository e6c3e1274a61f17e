"""The sales handoff: `pql score` writes the leads file, then the HTML lead report and
the webhook alerts (with their SQLite state) that put PQLs in front of sales reps."""
