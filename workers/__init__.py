"""RQ job entry points (see ``workers.jobs``)."""
