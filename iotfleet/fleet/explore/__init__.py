"""Jobs seen from the operator's chair: lists, details, executions, statistics, cancel, delete, watch, report.

Cost. Every function says what it calls. The statistics, the abort-threshold proximity and each refresh of
a watch come from ``DescribeJob``'s ``jobProcessDetails`` counters alone: one call, whatever the size of
the fleet. Listings read every page (250 items a page where the API allows it).

The modules, each imported directly by its callers:

* :mod:`.statistics`: counts per status, health and abort proximity, computed from the counters;
* :mod:`.jobs`: every job, one job's details and statistics (``DescribeJob``, ``GetJobDocument``);
* :mod:`.executions`: a job's executions, and one thing's execution with its attempts;
* :mod:`.cancel_delete`: canceling and deleting a job, each planned before it is done;
* :mod:`.watch`: refreshing a job's statistics until it is done;
* :mod:`.report`: the job report, one self-contained HTML page;
* :mod:`.times`: AWS timestamps as epoch seconds and ISO text.
"""
