"""AWS IoT jobs and job templates for OTA and custom updates, each checked against every AWS limit before the
first call, and each carrying the fleet's ownership tag so cleanup finds it.

* :mod:`.settings`: how a job runs (rollout, abort, timeout, retries, schedule), with AWS's ranges;
* :mod:`.documents`: job documents, their package placeholders and the OTA document;
* :mod:`.checks`: what a job and a template both check (description, tags, deployable versions, jobs role);
* :mod:`.create`: job specs, checked, prepared and submitted as one ``CreateJob`` call;
* :mod:`.templates`: job templates, created the same way, listed, described and deleted.

Import from the submodules; this package imports none of them.
"""
