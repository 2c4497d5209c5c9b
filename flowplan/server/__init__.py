"""The server: webhook intake, schedules, the dashboard (`flowplan serve`)."""
