"""AWS IoT Jobs for the emulator: the jobs engine, its control-plane operations and the devices' jobs API.

``engine`` holds the jobs API and ``lifecycle`` what time, device reports and group membership do to
jobs (rollout, abort, timeouts, retries, scheduling, continuous jobs), with the decisions in
``policies``, ``rollout`` and ``schedule``, as plain Python over an injected clock and registry view;
``handlers_control`` and ``handlers_data`` put it behind the ``iot`` and ``iot-jobs-data`` operations,
replacing moto's jobs.
"""
