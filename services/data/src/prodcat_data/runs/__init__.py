"""Run records: what was asked (train or evaluate), where it runs and how it ended, in a database
that outlives the API's processes. The schema lives in `schema.py`, the logic in `service.py`."""
