"""The pipeline's database side: the snapshot, the stored changes, bulk statements, the apply.

snapshot.py loads an organization's users as plain data in one query; changes.py stores a run's
changes (ImportChange rows) as the diff makes them; apply.py carries them out; bulk.py holds the
statements the ORM has no fast form for (COPY, executemany). Nothing here decides a run's status:
that is importer.runs.
"""
