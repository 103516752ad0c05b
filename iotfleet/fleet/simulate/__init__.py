"""The fleet simulator: thousands of devices running their job executions over HTTPS or MQTT.

Plan, then run::

    plan = plan_simulation(ctx, job_id="ota-1-2-0")          # or fleet="demo": every pending execution
    result = run_simulation(ctx, plan, BehaviourModel(success_rate=90, seed=7))
    result.outcome_counts()   # {"succeeded": ..., "failed": ..., ...}

The modules, each imported directly by its callers:

* :mod:`.plan`: the scope of a run (a job or a fleet) resolved to its devices;
* :mod:`.run`: the run itself: the options, what the devices share, the result;
* :mod:`.device`: one simulated device and its execution loop;
* :mod:`.artifacts`: what a device downloads and how it checks the checksums;
* :mod:`.behaviour`: which executions succeed, how the others fail, and how long each step takes;
* :mod:`.stepping`: the scheduler that steps many long-lived devices on a few threads;
* :mod:`.transport`: ``--transport https|mqtt``, checked before any device starts;
* :mod:`.channels`: what a device calls, and the HTTPS channel (the jobs data plane);
* :mod:`.mqtt_channel`: the same calls over a device's own MQTT connection;
* :mod:`.mqtt_network`: every device connection of a run on one event loop, paced to the quotas.
"""
