"""The service: use cases over a project in Redis, one module per concern.

=================  ===========================================================
``settings``       every setting and its default (``LOOP_*``)
``projects``       create projects, annotators and their tokens
``lf_modules``     LF modules: load (workers) and check in a subprocess (web)
``items``          uploads (atomic per project)
``labeling``       apply the LFs in chunks, publish ``L``
``state``          what a model step reads: ``L``, gold, exclusions
``models``         the loop's steps (:mod:`loop.core.step`) over a project
``recalibration``  when to recalibrate, and making sure it happens
``queue``          next, answer, skip, undo, relabel
``jobs``           enqueue, report on and cancel RQ jobs
``tasks``          the RQ entry points (thin)
``worker``         the RQ worker class
``reports``        LF table and metrics
``export``         CSV and JSON lines exports
=================  ===========================================================
"""
