"""The emulator's MQTT endpoint: AWS IoT Core's message broker for devices, over mutual TLS.

``packets`` (the MQTT 3.1.1 and 5 wire format), ``topics`` (names, filters and the subscription index),
``connection`` (one client's session), ``broker`` (the TLS listener and the routing), and the AWS
services devices reach through it: ``jobs_topics`` (the jobs device API and its notifications),
``shadow_topics`` (classic and named shadows) and ``presence`` (lifecycle events and connectivity).
"""
