"""The discrepancy pages: the queue (queue.py), one item (item.py), the supervisors' pages
(supervisor.py) and a client's dashboard (dashboard.py)."""
