"""Import from a company's HR server.

All outbound HTTP (http.py), the stored secret (secrets.py), when a source is due (schedule.py,
pure), and the scheduled sync, Fetch and Test connection (services.py).
"""
